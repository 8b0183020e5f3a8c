import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { CommandService, QueryService } from "@orderly/contracts";
import { seededRandom } from "@orderly/eventsourcing";
import { SignJWT } from "jose";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUDIENCE, b64, ISSUER, other, publicKeyFile, publicPem, sign, signing, unsigned } from "./auth.fixture.js";
import { type JwtAuthenticator, Scopes } from "./auth.js";
import { grpcServiceDefinition } from "./binding.js";
import type { CallContext } from "./call-context.js";
import { healthService } from "./health.js";
import { GrpcServer } from "./server.js";
import { addStubService } from "./testing.js";

// JWT authorization at the server's edge: every call checked, scopes per service, health open, nothing logged.

// Everything the server logs, at the most verbose level, to check that no credential ever reaches a log.
const logLines: string[] = [];
const logger = pino(
  { level: "trace" },
  new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  }),
);

const seen: CallContext[] = [];

function securedServer(auth: ConstructorParameters<typeof JwtAuthenticator>[0]): GrpcServer {
  const server = new GrpcServer({ name: "auth-test", logger, auth });
  addStubService(
    server,
    CommandService,
    {
      createOrder: (request, ctx) => {
        seen.push(ctx);
        return { accepted: { orderId: request.orderId || "o-new", commandId: "c", streamVersion: 1n, position: 1n } };
      },
    },
    { scope: Scopes.write },
  );
  addStubService(
    server,
    QueryService,
    {
      getOrderSummary: (request) => ({ summary: { orderId: request.orderId } }),
      async *waitForPosition() {
        yield { readModels: [{ readModel: "p", position: 1n }] };
      },
    },
    { scope: Scopes.read },
  );
  return server;
}

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

function client(service: typeof CommandService | typeof QueryService, port: number): Client {
  const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(service), service.name);
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
}

function metadata(...authorization: string[]): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const value of authorization) m.add("authorization", value);
  return m;
}

function call(c: Client, method: string, md: grpc.Metadata, request: object = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const fn = c[method] as (...a: unknown[]) => unknown;
    fn.call(c, request, md, { deadline: Date.now() + 10_000 }, (e: unknown, v: unknown) =>
      e ? reject(e) : resolve(v),
    );
  });
}

function stream(c: Client, md: grpc.Metadata): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const messages: unknown[] = [];
    const s = (c.waitForPosition as (...a: unknown[]) => grpc.ClientReadableStream<unknown>).call(
      c,
      { minPosition: 1n },
      md,
    );
    s.on("data", (m) => messages.push(m));
    s.on("error", reject);
    s.on("end", () => resolve(messages));
  });
}

async function code(promise: Promise<unknown>): Promise<grpc.status> {
  try {
    await promise;
  } catch (error) {
    return (error as grpc.ServiceError).code;
  }
  return grpc.status.OK;
}

describe("GrpcServer with JWT authorization (public key file)", () => {
  let server: GrpcServer;
  let commands: Client;
  let queries: Client;
  let port: number;
  const tokens: string[] = [];
  const keep = (token: string) => {
    tokens.push(token);
    return token;
  };
  const bearer = (token: string) => metadata(`Bearer ${keep(token)}`);

  beforeAll(async () => {
    server = securedServer({ publicKeyFile, issuer: ISSUER, audience: AUDIENCE, clockToleranceSeconds: 5 });
    port = await server.listen(0, "127.0.0.1");
    commands = client(CommandService, port);
    queries = client(QueryService, port);
  });
  afterAll(async () => {
    commands.close();
    queries.close();
    await server.shutdown({ graceMs: 100 });
  });

  it("serves a valid token holding the scope, and tells the handler who called", async () => {
    seen.length = 0;
    await call(commands, "createOrder", bearer(await sign()), { orderId: "o-1" });
    expect(seen[0]?.principal?.subject).toBe("svc-checkout");
    expect([...(seen[0]?.principal?.scopes ?? [])]).toEqual([Scopes.write, Scopes.read]);
    expect(await call(queries, "getOrderSummary", bearer(await sign()), { orderId: "o-1" })).toMatchObject({
      summary: { orderId: "o-1" },
    });
    expect(await stream(queries, bearer(await sign()))).toHaveLength(1);
  });

  it("answers UNAUTHENTICATED to every bad credential, on both services, unary and streaming", async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: Record<string, grpc.Metadata> = {
      missing: metadata(),
      "not bearer": metadata("Basic c3ZjOnB3"),
      "bearer without token": metadata("Bearer "),
      "two segments": metadata("Bearer abc.def"),
      // (HTTP/2 carries one authorization header: node's client refuses a second; the joined form is what arrives.)
      "two tokens in one value": metadata(`Bearer ${keep(await sign())}, Bearer ${keep(await sign())}`),
      garbage: metadata("Bearer aaaa.bbbb.cccc"),
      "alg none, empty signature": metadata(`Bearer ${unsigned("none")}`),
      "alg none, any signature": metadata(`Bearer ${unsigned("none", "AAAA")}`),
      "HS256 keyed with the public key": metadata(
        `Bearer ${keep(
          await new SignJWT({ scope: Scopes.write })
            .setProtectedHeader({ alg: "HS256" })
            .setIssuer(ISSUER)
            .setAudience(AUDIENCE)
            .setSubject("svc-checkout")
            .setExpirationTime(now + 300)
            .sign(new TextEncoder().encode(publicPem)),
        )}`,
      ),
      "signed by another key": bearer(await sign({}, { key: other.privateKey })),
      expired: bearer(await sign({ exp: now - 60 })),
      "not yet valid": bearer(await sign({ nbf: now + 120 })),
      "wrong issuer": bearer(await sign({ iss: "https://evil.test" })),
      "wrong audience": bearer(await sign({ aud: "someone-else" })),
      "no exp": bearer(
        await new SignJWT({ scope: Scopes.write })
          .setProtectedHeader({ alg: "ES256" })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setSubject("svc-checkout")
          .sign(signing.privateKey),
      ),
      "no sub": bearer(await sign({ sub: undefined })),
      "tampered payload": metadata(
        `Bearer ${(() => {
          const [h, , s] = (tokens[0] as string).split(".");
          return `${h}.${b64({ iss: ISSUER, aud: AUDIENCE, sub: "admin", exp: now + 300, scope: Scopes.admin })}.${s}`;
        })()}`,
      ),
    };
    for (const [name, md] of Object.entries(cases)) {
      expect({ name, code: await code(call(commands, "createOrder", md)) }).toEqual({
        name,
        code: grpc.status.UNAUTHENTICATED,
      });
      expect({ name, code: await code(call(queries, "getOrderSummary", md, { orderId: "o" })) }).toEqual({
        name,
        code: grpc.status.UNAUTHENTICATED,
      });
      expect({ name, code: await code(stream(queries, md)) }).toEqual({ name, code: grpc.status.UNAUTHENTICATED });
    }
  });

  it("accepts a token within the clock skew", async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await code(call(commands, "createOrder", bearer(await sign({ exp: now - 2, nbf: now + 2 }))))).toBe(
      grpc.status.OK,
    );
  });

  it("answers PERMISSION_DENIED to a valid token without the service's scope", async () => {
    const readOnly = bearer(await sign({ scope: Scopes.read }));
    const writeOnly = bearer(await sign({ scope: Scopes.write }));
    const none = bearer(await sign({ scope: undefined }));
    expect(await code(call(commands, "createOrder", readOnly))).toBe(grpc.status.PERMISSION_DENIED);
    expect(await code(call(commands, "cancelOrder", none))).toBe(grpc.status.PERMISSION_DENIED);
    expect(await code(call(queries, "getOrderSummary", writeOnly, { orderId: "o" }))).toBe(
      grpc.status.PERMISSION_DENIED,
    );
    expect(await code(stream(queries, writeOnly))).toBe(grpc.status.PERMISSION_DENIED);
    // The refusal comes from the one status table, with the error code trailer.
    expect(await code(call(commands, "createOrder", writeOnly))).toBe(grpc.status.OK);
  });

  it("answers health without a token", async () => {
    const Ctor = grpc.makeClientConstructor(healthService, "Health");
    const health = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
    expect(await call(health, "check", new grpc.Metadata(), { service: "" })).toEqual({ status: "SERVING" });
    health.close();
  });

  it("serves reflection only with a valid token (any scope)", async () => {
    const reflectionRoot = join(dirname(createRequire(import.meta.url).resolve("@grpc/reflection")), "../proto");
    const pkg = grpc.loadPackageDefinition(
      loadSync("grpc/reflection/v1/reflection.proto", { includeDirs: [reflectionRoot] }),
    ) as unknown as { grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } } };
    const reflection = new pkg.grpc.reflection.v1.ServerReflection(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
    ) as unknown as Client;
    const list = (md: grpc.Metadata) =>
      new Promise<unknown>((resolve, reject) => {
        const duplex = (
          reflection.serverReflectionInfo as (m: grpc.Metadata) => grpc.ClientDuplexStream<object, unknown>
        )(md);
        duplex.on("data", (response) => {
          resolve(response);
          duplex.end();
        });
        duplex.on("error", reject);
        duplex.write({ listServices: "*" });
      });
    expect(await code(list(new grpc.Metadata()))).toBe(grpc.status.UNAUTHENTICATED);
    expect(await code(list(bearer(await sign({}, { key: other.privateKey }))))).toBe(grpc.status.UNAUTHENTICATED);
    expect(await list(bearer(await sign({ scope: "" })))).toHaveProperty("listServicesResponse");
    reflection.close();
  });

  it("survives random bytes in the authorization metadata: always UNAUTHENTICATED", async () => {
    const random = seededRandom(15);
    const printable = (length: number) =>
      Array.from({ length }, () => String.fromCharCode(0x20 + Math.floor(random() * 95))).join("");
    const segment = () => randomBytes(Math.floor(random() * 200)).toString("base64url");
    for (let i = 0; i < 150; i++) {
      const value =
        i % 3 === 0
          ? printable(Math.floor(random() * 300))
          : i % 3 === 1
            ? `Bearer ${segment()}.${segment()}.${segment()}`
            : `Bearer ${b64({ alg: printable(5) })}.${randomBytes(64).toString("base64url")}.${segment()}`;
      const md = new grpc.Metadata();
      md.set("authorization", value.trim());
      expect(await code(call(commands, "createOrder", md))).toBe(grpc.status.UNAUTHENTICATED);
    }
    // Still serving.
    expect(await code(call(commands, "createOrder", bearer(await sign())))).toBe(grpc.status.OK);
  });

  it("never logs a token or a key, even at trace level", () => {
    const logged = logLines.join("");
    expect(logged).toContain("call rejected"); // the refusals above were logged
    for (const token of tokens) {
      for (const part of token.split(".")) expect(logged).not.toContain(part);
    }
    const keyBody = publicPem.split("\n")[1] as string;
    expect(logged).not.toContain(keyBody);
    expect(logged).not.toMatch(/Bearer [A-Za-z0-9_-]{8}/);
  });
});
