import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { QueryService } from "@orderly/contracts";
import { SignJWT } from "jose";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import type { JwtAuthOptions } from "./auth.js";
import { grpcServiceDefinition } from "./binding.js";
import type { CallerLimitOptions } from "./rate-limit.js";
import { GrpcServer } from "./server.js";

const logger = pino({ level: process.env.LOG_LEVEL ?? "silent" });
const dir = mkdtempSync(join(tmpdir(), "orderly-limits-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
const publicKeyFile = join(dir, "jwt.pem");
writeFileSync(publicKeyFile, keys.publicKey.export({ type: "spki", format: "pem" }));
const auth: JwtAuthOptions = { publicKeyFile, issuer: "iss", audience: "aud" };

function token(sub: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: "iss", aud: "aud", sub, exp: now + 300, scope: "orders:read" })
    .setProtectedHeader({ alg: "ES256" })
    .sign(keys.privateKey);
}

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

async function start(limits: CallerLimitOptions, withAuth = false) {
  const server = new GrpcServer({ name: "limits-test", logger, limits, auth: withAuth ? auth : undefined });
  server.addService(
    QueryService,
    {
      getOrderSummary: (request) => ({ summary: { orderId: request.orderId } }),
      listCustomerOrders: () => ({}),
      async *waitForPosition(_request, ctx) {
        for (let i = 1n; ; i++) {
          yield { readModels: [{ readModel: "p", position: i }] };
          await sleep(20, undefined, { signal: ctx.signal });
        }
      },
    },
    { scope: "orders:read" },
  );
  const port = await server.listen(0, "127.0.0.1");
  const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(QueryService), "QueryService");
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
  return { server, client };
}

function get(client: Client, bearer?: string): Promise<{ code: grpc.status; retryAfterMs?: string }> {
  const md = new grpc.Metadata();
  if (bearer) md.set("authorization", `Bearer ${bearer}`);
  return new Promise((resolve) => {
    (client.getOrderSummary as (...a: unknown[]) => unknown).call(
      client,
      { orderId: "o" },
      md,
      (error: grpc.ServiceError | null) =>
        resolve(
          error
            ? { code: error.code, retryAfterMs: error.metadata.get("retry-after-ms")[0] as string | undefined }
            : { code: grpc.status.OK },
        ),
    );
  });
}

describe("GrpcServer per-caller limits", () => {
  it("refuses calls past the rate and burst with RESOURCE_EXHAUSTED and a retry hint, then recovers", async () => {
    const { server, client } = await start({ ratePerSecond: 5, burst: 3 });
    try {
      const results = [];
      for (let i = 0; i < 4; i++) results.push(await get(client));
      expect(results.slice(0, 3).map((r) => r.code)).toEqual([0, 0, 0]);
      expect(results[3]?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      const hint = Number(results[3]?.retryAfterMs);
      expect(hint).toBeGreaterThan(0);
      expect(hint).toBeLessThanOrEqual(200);
      await sleep(hint + 20);
      expect((await get(client)).code).toBe(grpc.status.OK);
    } finally {
      client.close();
      await server.shutdown({ graceMs: 100 });
    }
  });

  it("keys the bucket by the token's subject", async () => {
    const { server, client } = await start({ ratePerSecond: 1, burst: 1 }, true);
    try {
      const a = await token("svc-a");
      const b = await token("svc-b");
      expect((await get(client, a)).code).toBe(grpc.status.OK);
      expect((await get(client, a)).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect((await get(client, b)).code).toBe(grpc.status.OK); // same address, other caller
      // Refused before any limit: an unauthenticated call never spends a caller's tokens.
      expect((await get(client)).code).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      client.close();
      await server.shutdown({ graceMs: 100 });
    }
  });

  it("caps the open streams of one caller", async () => {
    const { server, client } = await start({ maxStreamsPerCaller: 1 });
    const open = () => {
      const stream = (client.waitForPosition as (...a: unknown[]) => grpc.ClientReadableStream<unknown>).call(client, {
        minPosition: 0n,
      });
      const outcome = new Promise<grpc.status>((resolve) => {
        stream.on("data", () => resolve(grpc.status.OK));
        stream.on("error", (error: grpc.ServiceError) => resolve(error.code));
      });
      return { stream, outcome };
    };
    try {
      const first = open();
      expect(await first.outcome).toBe(grpc.status.OK);
      const second = open();
      expect(await second.outcome).toBe(grpc.status.RESOURCE_EXHAUSTED);
      first.stream.cancel();
      await sleep(100);
      const third = open();
      expect(await third.outcome).toBe(grpc.status.OK);
      third.stream.cancel();
    } finally {
      client.close();
      await server.shutdown({ graceMs: 100 });
    }
  });
});

describe("GrpcServer deadline cap", () => {
  /** A server whose GetOrderSummary waits until its signal aborts (a handler stuck on a slow dependency). */
  async function startStuck(maxDeadlineMs: number) {
    const aborted: string[] = [];
    const server = new GrpcServer({ name: "deadline-test", logger, maxDeadlineMs });
    server.addService(QueryService, {
      getOrderSummary: async (_request, ctx) => {
        await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
        aborted.push((ctx.signal.reason as Error).message);
        return {};
      },
      listCustomerOrders: () => ({}),
      async *waitForPosition() {},
    });
    const port = await server.listen(0, "127.0.0.1");
    const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(QueryService), "QueryService");
    const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
    return { server, client, aborted };
  }

  function call(client: Client, deadlineMs?: number): Promise<{ code: grpc.status; details: string; ms: number }> {
    const started = Date.now();
    const options = deadlineMs === undefined ? {} : { deadline: new Date(Date.now() + deadlineMs) };
    return new Promise((resolve) => {
      (client.getOrderSummary as (...a: unknown[]) => unknown).call(
        client,
        { orderId: "o" },
        new grpc.Metadata(),
        options,
        (error: grpc.ServiceError | null) =>
          resolve({ code: error?.code ?? grpc.status.OK, details: error?.details ?? "", ms: Date.now() - started }),
      );
    });
  }

  it("ends a call without a deadline, or with a longer one, at the server's cap with DEADLINE_EXCEEDED", async () => {
    const { server, client, aborted } = await startStuck(400);
    try {
      const [none, long, short] = await Promise.all([call(client), call(client, 60_000), call(client, 150)]);
      for (const capped of [none, long]) {
        expect(capped.code).toBe(grpc.status.DEADLINE_EXCEEDED);
        expect(capped.details).toMatch(/caps a call at 400 ms/);
        expect(capped.ms).toBeGreaterThanOrEqual(350);
        expect(capped.ms).toBeLessThan(5_000);
      }
      // A deadline inside the cap is the client's own.
      expect(short.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(short.ms).toBeLessThan(400);
      // The handlers were told (their signal aborted), so a stuck dependency is released too.
      await expect.poll(() => aborted.length).toBeGreaterThanOrEqual(2);
      expect(aborted.filter((m) => /caps a call at 400 ms/.test(m))).toHaveLength(2);
    } finally {
      client.close();
      await server.shutdown({ graceMs: 1000 });
    }
  });
});
