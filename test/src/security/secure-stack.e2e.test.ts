import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createCommandClient, createQueryClient, type OrderlyClientTls } from "@orderly/client";
import { decodeEnvelope, ordersBus } from "@orderly/event-bus";
import { createCertificateAuthority, issueCertificate, Scopes } from "@orderly/grpc-server";
import { localPki, securedServiceEnv } from "@orderly/grpc-server/testing";
import { eventually, type RunningService, type TestEnvironment } from "@orderly/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StackPorts, startTestStack, stopTestStack } from "../ops/support.js";
import { signToken } from "../test-tokens.js";

// Issue 15, "Done when": the whole stack (`pnpm start`) with ORDERLY_TLS_CERT, ORDERLY_TLS_KEY, ORDERLY_TLS_CLIENT_CA,
// ORDERLY_JWT_PUBLIC_KEY_FILE, ORDERLY_JWT_ISSUER and ORDERLY_JWT_AUDIENCE set serves good credentials over mTLS,
// refuses bad ones with the right code on both services, records the caller's identity in the event row and the
// envelope on the bus, and never logs a token.

const ISSUER = "https://issuer.test";
const AUDIENCE = "orderly";
const dir = mkdtempSync(join(tmpdir(), "orderly-secure-stack-"));
const pki = localPki(dir, "svc-checkout");
const { ca, client: clientCert, signing } = pki;

/** A token of `scope` for `sub`, ten minutes long; `key` and `audience` for the refused ones. */
function token(
  scope: string,
  sub = "svc-checkout",
  { key = signing.privateKey, audience = AUDIENCE } = {},
): Promise<string> {
  return signToken(key, { scope, issuer: ISSUER, audience, subject: sub, seconds: 600 });
}

const tls = (): OrderlyClientTls => ({
  ca: readFileSync(ca.cert),
  cert: readFileSync(clientCert.cert),
  key: readFileSync(clientCert.key),
});

async function code(call: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await call;
    return "ok";
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

describe("the stack over mTLS with JWT authorization", () => {
  let env: TestEnvironment;
  let stack: RunningService;
  let ports: StackPorts;
  const tokens: Record<"write" | "read" | "both", string> = { write: "", read: "", both: "" };

  beforeAll(async () => {
    ({ env, stack, ports } = await startTestStack(securedServiceEnv(pki, { issuer: ISSUER, audience: AUDIENCE })));
    tokens.write = await token(Scopes.write);
    tokens.read = await token(Scopes.read);
    tokens.both = await token(`${Scopes.write} ${Scopes.read}`);
  });
  afterAll(async () => {
    await stopTestStack(env, stack);
    rmSync(dir, { recursive: true, force: true });
  });

  const commandUrl = () => `https://localhost:${ports.COMMAND_PORT}`;
  const queryUrl = () => `https://localhost:${ports.QUERY_PORT}`;

  it("places an order with a write token and reads it back with a read token, read-your-writes", async () => {
    const commands = createCommandClient({ baseUrl: commandUrl(), tls: tls(), token: () => tokens.write });
    const queries = createQueryClient({ baseUrl: queryUrl(), tls: tls(), token: () => tokens.read });
    const orderId = randomUUID();
    const reply = await commands.createOrder({
      idempotencyKey: `secure-${orderId}`,
      orderId,
      customerId: "customer-secure",
      currency: "EUR",
      items: [{ sku: "sku-1", quantity: 1, unitPriceMinor: 999n }],
    });
    const position = reply.accepted?.position ?? 0n;
    expect(position).toBeGreaterThan(0n);
    // The read waits for the projector (500 ms at most per call): ask until it has caught up on a loaded machine.
    let summary: Awaited<ReturnType<typeof queries.getOrderSummary>> | undefined;
    await eventually(async () => {
      summary = await queries.getOrderSummary({ orderId, minPosition: position }).catch(() => undefined);
      return summary !== undefined;
    }, "the order summary at the order's position");
    expect(summary?.summary?.orderId).toBe(orderId);
    expect(summary?.summary?.totalMinor).toBe(999n);
    expect(summary?.summary?.placedBy).toBe("svc-checkout");
    // ... and in the customer's list (the Redis read model keeps it since CUSTOMER_ORDERS_VERSION 3).
    let listed: Awaited<ReturnType<typeof queries.listCustomerOrders>> | undefined;
    await eventually(async () => {
      listed = await queries
        .listCustomerOrders({ customerId: "customer-secure", minPosition: position })
        .catch(() => undefined);
      return listed !== undefined;
    }, "the customer's orders at the order's position");
    expect(listed?.orders.find((o) => o.orderId === orderId)?.placedBy).toBe("svc-checkout");

    // Audit identity: the token's sub in the event row and in the envelope the relay published.
    const client = new pg.Client({ connectionString: env.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query("select actor from events where stream_id = $1", [`order-${orderId}`]);
      expect(rows).toEqual([{ actor: "svc-checkout" }]);
    } finally {
      await client.end();
    }
    const nc = await connect({ servers: env.natsUrl.split(",") });
    try {
      const jsm = await jetstreamManager(nc);
      const message = await jsm.streams.getMessage(ordersBus(env.namespace).stream, { seq: Number(position) });
      if (!message) throw new Error(`no message at position ${position} on the stream`);
      const event = decodeEnvelope(message.data, message.header);
      expect(event.streamId).toBe(`order-${orderId}`);
      expect(event.metadata.actor).toBe("svc-checkout");
    } finally {
      await nc.close();
    }
  });

  it("keeps an idempotency key to its caller: another caller's retry of it is ALREADY_EXISTS, not the outcome", async () => {
    const request = {
      idempotencyKey: `key-${randomUUID()}`,
      customerId: "customer-secure",
      currency: "EUR",
      items: [{ sku: "sku-1", quantity: 1, unitPriceMinor: 100n }],
    };
    const checkout = createCommandClient({ baseUrl: commandUrl(), tls: tls(), token: () => tokens.write });
    const first = await checkout.createOrder(request);
    expect((await checkout.createOrder(request)).accepted?.duplicate).toBe(true);
    const otherToken = await token(Scopes.write, "svc-other");
    const other = createCommandClient({ baseUrl: commandUrl(), tls: tls(), retry: false, token: () => otherToken });
    const error = await other.createOrder(request).catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.AlreadyExists);
    expect(ConnectError.from(error).message).not.toContain(first.accepted?.orderId ?? "no order id");
  });

  it("refuses a missing token, a forged one and a wrong audience with UNAUTHENTICATED on both services", async () => {
    const forgedKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const forged = await token(`${Scopes.write} ${Scopes.read}`, "svc-checkout", { key: forgedKey });
    const otherAudience = await token(`${Scopes.write} ${Scopes.read}`, "svc-checkout", { audience: "another-system" });
    for (const bearer of [undefined, forged, otherAudience]) {
      const options = { tls: tls(), retry: false as const, ...(bearer ? { token: () => bearer } : {}) };
      const commands = createCommandClient({ baseUrl: commandUrl(), ...options });
      const queries = createQueryClient({ baseUrl: queryUrl(), ...options });
      expect(await code(commands.createOrder({ idempotencyKey: randomUUID(), customerId: "c" }))).toBe(
        Code.Unauthenticated,
      );
      expect(await code(queries.getOrderSummary({ orderId: randomUUID() }))).toBe(Code.Unauthenticated);
    }
  });

  it("refuses a valid token without the service's scope with PERMISSION_DENIED", async () => {
    const readOnly = createCommandClient({ baseUrl: commandUrl(), tls: tls(), retry: false, token: () => tokens.read });
    expect(await code(readOnly.createOrder({ idempotencyKey: randomUUID(), customerId: "c" }))).toBe(
      Code.PermissionDenied,
    );
    const writeOnly = createQueryClient({ baseUrl: queryUrl(), tls: tls(), retry: false, token: () => tokens.write });
    expect(await code(writeOnly.getOrderSummary({ orderId: randomUUID() }))).toBe(Code.PermissionDenied);
    const both = createQueryClient({ baseUrl: queryUrl(), tls: tls(), retry: false, token: () => tokens.both });
    expect(await code(both.getOrderSummary({ orderId: randomUUID() }))).toBe(Code.NotFound);
  });

  it("refuses a connection without a client certificate, with another CA's, and plaintext, before any call", async () => {
    const other = createCertificateAuthority(join(dir, "other"), "other");
    const strangerCert = issueCertificate(other, join(dir, "other"), "stranger", {
      commonName: "svc-checkout",
      usage: "client",
    });
    const variants: OrderlyClientTls[] = [
      { ca: readFileSync(ca.cert) },
      { ca: readFileSync(ca.cert), cert: readFileSync(strangerCert.cert), key: readFileSync(strangerCert.key) },
    ];
    const customerId = `stranger-${randomUUID()}`;
    for (const variant of variants) {
      const commands = createCommandClient({
        baseUrl: commandUrl(),
        tls: variant,
        retry: false,
        token: () => tokens.write,
      });
      // No gRPC status comes back from Orderly: the server ends the TLS handshake with an alert, which connect-node
      // reports as one of several transport codes (UNAVAILABLE, INTERNAL, CANCELED, ABORTED) depending on timing.
      const valid = { currency: "EUR", items: [{ sku: "sku-1", quantity: 1, unitPriceMinor: 100n }] };
      const refused = await code(commands.createOrder({ idempotencyKey: randomUUID(), customerId, ...valid }));
      expect(refused).not.toBe("ok");
      expect([Code.Unauthenticated, Code.PermissionDenied, Code.InvalidArgument]).not.toContain(refused);
    }
    const plaintext = createQueryClient({
      baseUrl: `http://127.0.0.1:${ports.QUERY_PORT}`,
      retry: false,
      token: () => tokens.read,
      timeoutMs: 5_000,
    });
    expect(await code(plaintext.getOrderSummary({ orderId: randomUUID() }))).not.toBe("ok");
    // Nothing reached a handler: no event of that customer.
    const client = new pg.Client({ connectionString: env.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query("select count(*)::int as n from events where data->>'customerId' = $1", [
        customerId,
      ]);
      expect(rows).toEqual([{ n: 0 }]);
    } finally {
      await client.end();
    }
  });

  it("never logs a token, says it serves mTLS with JWT, and gives no 'auth and TLS are off' warning", () => {
    const output = stack.output();
    for (const t of Object.values(tokens)) {
      expect(output).not.toContain(t);
      expect(output).not.toContain(t.split(".")[2] as string);
    }
    expect(output).not.toMatch(/auth and TLS are off/);
    expect(output).toMatch(/"transport":"mtls"/);
    expect(output).toMatch(/"auth":"jwt"/);
  });
});
