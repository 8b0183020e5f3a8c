import { createTestEnvironment, eventually, freePort, startService, type TestEnvironment } from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alive, stackEntry, stackLogs, startStack } from "./support.js";

describe("pnpm start (services/stack)", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await createTestEnvironment();
  });
  afterAll(async () => {
    await env?.cleanup();
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
