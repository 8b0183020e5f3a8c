import { describe, expect, it } from "vitest";
import { readStackConfig } from "./config.js";
import { checkDependencies, connectionProblem, maskPassword } from "./dependencies.js";
import { testPortsForSuite } from "./test-ports.js";

describe("checkDependencies", () => {
  const ports = testPortsForSuite();
  /** The shared Postgres and NATS (up), and a Redis at `port` of this machine. */
  const checkRedisAt = (port: number, timeoutMs: number) =>
    checkDependencies(
      {
        databaseUrl: "postgres://root@127.0.0.1:5432/postgres",
        natsUrl: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
        redisUrl: `redis://127.0.0.1:${port}`,
      },
      { timeoutMs },
    );

  it("finds the shared servers up (a missing database counts as up: it is created at start)", async () => {
    const report = await checkDependencies(
      readStackConfig({ ...process.env, DATABASE_URL: "postgres://root@127.0.0.1:5432/orderly_never_created_x" }),
    );
    expect(report.results.map((r) => [r.name, r.up])).toEqual([
      ["Postgres", true],
      ["NATS", true],
      ["Redis", true],
    ]);
    expect(report.ok).toBe(true);
    expect(report.message).toBe("");
  });

  it("says which is down, at what URL, and how to start it", async () => {
    const report = await checkDependencies(
      {
        databaseUrl: `postgres://root:secret@127.0.0.1:${ports.closedPort}/orderly`,
        natsUrl: `nats://127.0.0.1:${ports.closedPort}`,
        redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
      },
      { timeoutMs: 2_000 },
    );
    expect(report.ok).toBe(false);
    expect(report.results.map((r) => [r.name, r.up])).toEqual([
      ["Postgres", false],
      ["NATS", false],
      ["Redis", true],
    ]);
    expect(report.message).toContain(
      `Postgres is not reachable at postgres://root:***@127.0.0.1:${ports.closedPort}/orderly`,
    );
    expect(report.message).toContain("pg_ctlcluster --skip-systemctl-redirect");
    expect(report.message).toContain(`NATS is not reachable at nats://127.0.0.1:${ports.closedPort}`);
    expect(report.message).toContain("/usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js");
    expect(report.message).not.toContain("secret");
    expect(report.message).not.toContain("Redis is not reachable");
  });

  it("gives the reason a Redis connection failed", async () => {
    const report = await checkRedisAt(ports.closedPort, 2_000);
    expect(report.message).toContain(
      `Redis is not reachable at redis://127.0.0.1:${ports.closedPort} (REDIS_URL): connect ECONNREFUSED 127.0.0.1:${ports.closedPort}`,
    );
  });

  it("gives up on a server that accepts but never answers", async () => {
    const report = await checkRedisAt(ports.silentPort, 1_000);
    expect(report.results.map((r) => [r.name, r.up])).toEqual([
      ["Postgres", true],
      ["NATS", true],
      ["Redis", false],
    ]);
    expect(report.message).toContain(`Redis is not reachable at redis://127.0.0.1:${ports.silentPort}`);
    expect(report.message).toContain("redis-server --daemonize yes");
  });
});

describe("maskPassword", () => {
  it("hides only the password", () => {
    expect(maskPassword("postgres://u:pw@h:1/d")).toBe("postgres://u:***@h:1/d");
    expect(maskPassword("redis://h:1")).toBe("redis://h:1");
    // NATS_URL may list a cluster's servers, each with its credentials.
    expect(maskPassword("nats://u:pw@a:1,nats://u:pw2@b:2")).toBe("nats://u:***@a:1,nats://u:***@b:2");
  });

  it("hides a NATS token, libpq password parameters, and URLs it cannot parse that may hold one", () => {
    expect(maskPassword("tls://s3cr3t-token@a:4222")).toBe("tls://***@a:4222");
    expect(maskPassword("rediss://default@r:6380")).toBe("rediss://default@r:6380");
    expect(maskPassword("postgres://u@h/d?sslmode=verify-full&sslpassword=k3y&password=pw")).toBe(
      "postgres://u@h/d?sslmode=verify-full&sslpassword=***&password=***",
    );
    expect(maskPassword("postgres://u:p w@[bad")).not.toContain("p w");
  });

  it("tells refused credentials from a server that is not running (a service's first connection)", () => {
    const auth = Object.assign(new Error('password authentication failed for user "x"'), { code: "28P01" });
    expect(connectionProblem("Postgres", "postgres://x:pw@127.0.0.1:5/o", auth)).toBe(
      'Postgres at postgres://x:***@127.0.0.1:5/o (DATABASE_URL) refused the credentials: 28P01: password authentication failed for user "x"; put a user (and password) it accepts into DATABASE_URL',
    );
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5"), { code: "ECONNREFUSED" });
    expect(connectionProblem("Postgres", "postgres://x@127.0.0.1:5/o", refused)).toContain(
      "Postgres is not running at postgres://x@127.0.0.1:5/o (DATABASE_URL): connect ECONNREFUSED 127.0.0.1:5; start it",
    );
  });
});
