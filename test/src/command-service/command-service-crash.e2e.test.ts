import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CommandAccepted,
  type CommandClient,
  commandClient,
  createOrderRequest,
  type StartedCommandService,
  startCommandService,
} from "./command-client.js";

// Nothing the service acknowledged may be lost, whether it is killed or stopped; and nothing may take effect twice.

let stack: StartedCommandService;

beforeAll(async () => {
  stack = await startCommandService();
});
afterAll(async () => {
  await stack?.cleanup();
});

interface Burst {
  readonly acknowledged: { key: string; accepted: CommandAccepted }[];
  readonly failed: { key: string; request: Record<string, unknown>; code: grpc.status }[];
}

/**
 * `workers` loops each sending CreateOrder with a fresh key, one at a time, until `onAcknowledged` says stop or a call
 * fails. Resolves once every call has settled.
 */
async function burst(client: CommandClient, workers: number, shouldStop: (acked: number) => boolean): Promise<Burst> {
  const result: Burst = { acknowledged: [], failed: [] };
  let stopped = false;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (!stopped) {
        const request = createOrderRequest();
        const key = request.idempotency_key;
        try {
          const { accepted } = await client.call("CreateOrder", request);
          result.acknowledged.push({ key, accepted });
          if (shouldStop(result.acknowledged.length)) stopped = true;
        } catch (error) {
          result.failed.push({ key, request, code: (error as grpc.ServiceError).code });
          return;
        }
      }
    }),
  );
  return result;
}

async function expectAllStored(acknowledged: Burst["acknowledged"]): Promise<void> {
  const { rows } = await stack.db.query<{ idempotency_key: string; command_id: string; position: string }>(
    `select p.idempotency_key, p.command_id, e.position
       from processed_commands p join events e on e.command_id = p.command_id
      where p.idempotency_key = any($1)`,
    [acknowledged.map((a) => a.key)],
  );
  const stored = new Map(rows.map((row) => [row.idempotency_key, row]));
  const missing = acknowledged.filter((a) => stored.get(a.key)?.command_id !== a.accepted.command_id);
  expect(missing).toEqual([]);
  for (const a of acknowledged) expect(stored.get(a.key)?.position).toBe(a.accepted.position);
}

describe("command service crash safety", () => {
  it("SIGKILL during a burst: every acknowledged command is in the store; retries take effect at most once", async () => {
    const client = commandClient(stack.address);
    let killing: Promise<unknown> | undefined;
    const result = await burst(client, 32, (acked) => {
      if (acked >= 300 && killing === undefined) killing = stack.service.kill();
      return false;
    });
    expect(await killing).toBe("SIGKILL");
    client.close();
    expect(result.acknowledged.length).toBeGreaterThanOrEqual(300);
    expect(result.failed.length).toBe(32);
    for (const f of result.failed)
      expect([grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.INTERNAL]).toContain(f.code);
    await expectAllStored(result.acknowledged);

    // The client retries what it never heard back about, with the same keys, against the restarted service.
    await stack.restart();
    const again = commandClient(stack.address);
    const retried = await Promise.all(result.failed.map((f) => again.call("CreateOrder", f.request)));
    // Repeating an acknowledged request returns its stored result; the same key with other fields is refused.
    const repeats = await Promise.all(
      result.acknowledged.slice(0, 20).map(async (a) => ({
        a,
        same: await again.call("CreateOrder", createOrderRequest({ idempotency_key: a.key })),
        other: await again.fail("CreateOrder", createOrderRequest({ idempotency_key: a.key, currency: "USD" })),
      })),
    );
    again.close();
    for (const { a, same, other } of repeats) {
      expect(same.accepted).toEqual({ ...a.accepted, duplicate: true });
      expect(other.code).toBe(grpc.status.ALREADY_EXISTS);
    }

    const keys = [...result.acknowledged.map((a) => a.key), ...result.failed.map((f) => f.key)];
    const { rows } = await stack.db.query<{ idempotency_key: string; events: number }>(
      `select p.idempotency_key, count(e.*)::int as events
         from processed_commands p join events e on e.command_id = p.command_id
        where p.idempotency_key = any($1) group by p.idempotency_key`,
      [keys],
    );
    expect(rows).toHaveLength(keys.length);
    for (const row of rows) expect(row.events).toBe(1);
    for (const reply of retried) expect(reply.accepted.stream_version).toBe("1");
    // Positions stay gapless across the crash.
    const gaps = await stack.db.query<{ n: number; max: number }>(
      "select count(*)::int as n, coalesce(max(position), 0)::int as max from events",
    );
    expect(gaps.rows[0]?.n).toBe(gaps.rows[0]?.max);
  });

  it("SIGTERM during a burst: in-flight calls finish, every acknowledged command is stored, exit code 0", async () => {
    const client = commandClient(stack.address);
    let stopping: Promise<number | string> | undefined;
    const result = await burst(client, 32, (acked) => {
      if (acked >= 300 && stopping === undefined) stopping = stack.service.stop("SIGTERM", 60_000);
      return false;
    });
    expect(await stopping).toBe(0);
    client.close();
    expect(result.acknowledged.length).toBeGreaterThanOrEqual(300);
    await expectAllStored(result.acknowledged);
    // Calls refused during the stop never took effect: their keys are free.
    const { rows } = await stack.db.query(
      "select count(*)::int as n from processed_commands where idempotency_key = any($1)",
      [result.failed.map((f) => f.key)],
    );
    expect(rows[0].n).toBe(0);
    for (const f of result.failed) expect(f.code).toBe(grpc.status.UNAVAILABLE);
    await stack.restart();
  });
});
