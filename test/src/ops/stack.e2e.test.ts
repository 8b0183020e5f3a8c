import { createTestEnvironment, eventually, freePort, startService, type TestEnvironment } from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { healthCheck, services, stackEntry, stackLogs, startStack } from "./support.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("pnpm start (services/stack)", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await createTestEnvironment();
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  it("starts every service, reports where they are, serves health on both gRPC ports, and stops them all on SIGTERM", async () => {
    const { stack, ports } = await startStack(env);
    try {
      const logs = stackLogs(stack.output());
      const started = logs.filter((l) => typeof l.msg === "string" && l.msg.startsWith("started "));
      expect(started.map((l) => l.service)).toEqual(services);
      const pids = started.map((l) => l.childPid as number);

      // Every child's lines carry its prefix.
      for (const name of services) expect(stack.output()).toContain(`[${name}] `);

      // Where each endpoint is.
      const up = logs.find((l) => typeof l.msg === "string" && l.msg.startsWith("Orderly is up"));
      expect(up?.services).toEqual(services);
      expect(stack.output()).toContain(
        `command-service: gRPC 127.0.0.1:${ports.COMMAND_PORT} · metrics http://127.0.0.1:${ports.COMMAND_SERVICE_METRICS_PORT}/metrics`,
      );
      expect(stack.output()).toContain(
        `query-service: gRPC 127.0.0.1:${ports.QUERY_PORT} · metrics http://127.0.0.1:${ports.QUERY_SERVICE_METRICS_PORT}/metrics`,
      );
      expect(stack.output()).toContain(
        `projector-redis: metrics http://127.0.0.1:${ports.PROJECTOR_REDIS_METRICS_PORT}/metrics`,
      );

      for (const port of [
        ports.COMMAND_SERVICE_METRICS_PORT,
        ports.QUERY_SERVICE_METRICS_PORT,
        ports.OUTBOX_RELAY_METRICS_PORT,
        ports.PROJECTOR_POSTGRES_METRICS_PORT,
        ports.PROJECTOR_REDIS_METRICS_PORT,
      ]) {
        const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
        await ready.text();
        expect([port, ready.status]).toEqual([port, 200]);
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        expect(metrics).toContain("process_cpu_user_seconds_total");
      }

      expect(await healthCheck(ports.COMMAND_PORT, "")).toBe("SERVING");
      expect(await healthCheck(ports.COMMAND_PORT, "orderly.orders.v1.CommandService")).toBe("SERVING");
      expect(await healthCheck(ports.QUERY_PORT, "")).toBe("SERVING");
      expect(await healthCheck(ports.QUERY_PORT, "orderly.orders.v1.QueryService")).toBe("SERVING");

      expect(pids.every(alive)).toBe(true);
      expect(await stack.stop("SIGTERM", 60_000)).toBe(0);
      await eventually(() => pids.every((pid) => !alive(pid)), "every child to exit", 30_000);
      const stopped = stackLogs(stack.output()).filter((l) => typeof l.msg === "string" && l.msg.endsWith(" stopped"));
      expect(stopped.map((l) => l.service).sort()).toEqual([...services].sort());
    } finally {
      await stack.kill();
    }
  });

  it("says so loudly and stops everything with a non-zero exit when a service dies", async () => {
    const { stack } = await startStack(env);
    try {
      const started = stackLogs(stack.output()).filter(
        (l) => typeof l.msg === "string" && l.msg.startsWith("started "),
      );
      const victim = started.find((l) => l.service === "projector-redis");
      const others = started.filter((l) => l !== victim).map((l) => l.childPid as number);
      process.kill(victim?.childPid as number, "SIGKILL");
      expect(await stack.exited).toBe(1);
      expect(stack.output()).toContain(
        "!!! projector-redis exited unexpectedly (signal SIGKILL); nothing is restarted",
      );
      expect(stack.output()).toContain("!!! stopping every service");
      await eventually(() => others.every((pid) => !alive(pid)), "the other services to exit", 30_000);
    } finally {
      await stack.kill();
    }
  });

  it("exits non-zero naming Postgres and its URL when Postgres is unreachable", async () => {
    const closed = await freePort();
    const url = `postgres://root@127.0.0.1:${closed}/orderly`;
    const stack = await startService({
      name: "stack-no-postgres",
      entry: stackEntry,
      env: { ...env.env, DATABASE_URL: url, LOG_FORMAT: "json" },
    });
    const code = await stack.exited;
    expect(code).toBe(1);
    const output = stack.output();
    expect(output).toContain(`Postgres is not reachable at ${url} (DATABASE_URL)`);
    expect(output).toContain("pg_ctlcluster --skip-systemctl-redirect");
    expect(output).not.toContain("NATS is not reachable");
    expect(output).not.toContain("[command-service]");
  });

  it("exits 2 naming the variable when the configuration is invalid", async () => {
    const stack = await startService({
      name: "stack-bad-config",
      entry: stackEntry,
      env: { ...env.env, QUERY_PORT: "http" },
    });
    expect(await stack.exited).toBe(2);
    expect(stack.output()).toContain('QUERY_PORT="http" is not a TCP port');
  });
});
