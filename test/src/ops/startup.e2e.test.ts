import { fileURLToPath } from "node:url";
import {
  eventually,
  freePort,
  type RunningService,
  startService,
  startTcpProxy,
  type TcpProxy,
  type TestEnvironment,
} from "@orderly/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stackEnvironment } from "../stack-environment.js";
import { healthCheck } from "./support.js";

// Issue 13: started side by side, as a container platform does, every service waits for its dependencies (the
// database, NATS, Redis) with backoff and a bounded time, NOT_SERVING meanwhile, and gives up naming what it waited for.

const entry = (name: string) => fileURLToPath(new URL(`../../../services/${name}/dist/main.js`, import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let env: TestEnvironment;
let lateDatabase: string;
let lateUrl: string;
const started: RunningService[] = [];
const proxies: TcpProxy[] = [];

async function readyz(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`);
  await response.arrayBuffer();
  return response.status;
}

async function start(name: string, extra: Record<string, string>, metricsPort: number): Promise<RunningService> {
  const service = await startService({
    name,
    entry: entry(name),
    env: { ...env.env, DATABASE_URL: lateUrl, LOG_FORMAT: "json", METRICS_PORT: String(metricsPort), ...extra },
    // Up enough to answer /readyz (503 while it waits).
    readyLine: /waiting for/,
  });
  started.push(service);
  return service;
}

beforeAll(async () => {
  env = await stackEnvironment();
  // A database nobody has created yet, on the shared server (dropped after).
  const url = new URL(env.databaseUrl);
  lateDatabase = `${url.pathname.slice(1)}_late`;
  url.pathname = `/${lateDatabase}`;
  lateUrl = url.toString();
});

afterAll(async () => {
  for (const service of started) await service.kill().catch(() => undefined);
  for (const proxy of proxies) await proxy.close().catch(() => undefined);
  const admin = new pg.Client({ connectionString: env.databaseUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${lateDatabase} with (force)`);
  await admin.end();
  await env?.cleanup();
});

describe("services started side by side", () => {
  it("wait NOT_SERVING for the database, NATS and Redis, then serve once they are there", async () => {
    const postgres = new URL(env.databaseUrl);
    const nats = new URL(env.natsUrl);
    const pgProxy = await startTcpProxy({ port: Number(postgres.port || 5432) });
    const natsProxy = await startTcpProxy({ port: Number(nats.port || 4222) });
    proxies.push(pgProxy, natsProxy);
    // Neither server is reachable yet (connections refused), and the database does not exist.
    await pgProxy.down();
    await natsProxy.down();
    lateUrl = pgProxy.url(lateUrl);
    const natsUrl = natsProxy.url(env.natsUrl);
    const ports = {
      query: await freePort(),
      queryMetrics: await freePort(),
      relay: await freePort(),
      postgresProjector: await freePort(),
      redisProjector: await freePort(),
      command: await freePort(),
      commandMetrics: await freePort(),
    };
    const query = await start(
      "query-service",
      { QUERY_PORT: String(ports.query), QUERY_HOST: "127.0.0.1" },
      ports.queryMetrics,
    );
    const others = [
      await start("outbox-relay", { NATS_URL: natsUrl }, ports.relay),
      await start("projector-postgres", { NATS_URL: natsUrl }, ports.postgresProjector),
      await start("projector-redis", { NATS_URL: natsUrl }, ports.redisProjector),
    ];
    const otherPorts = [ports.relay, ports.postgresProjector, ports.redisProjector];

    await sleep(2_000);
    expect(await readyz(ports.queryMetrics)).toBe(503);
    expect(await healthCheck(ports.query, "")).toBe("NOT_SERVING");
    for (const port of otherPorts) expect(await readyz(port)).toBe(503);
    expect(query.output()).toMatch(/waiting for Postgres database \\?"orderly_test_\w+_late\\?"/);
    for (const service of others) expect(service.output()).toMatch(/waiting for Postgres at .*\(DATABASE_URL\)/);
    for (const service of others) expect(service.output()).toMatch(/waiting for NATS at .*\(NATS_URL\)/);

    // Postgres comes back, but the database is still missing (query side) and NATS still away (the others).
    await pgProxy.up();
    await sleep(1_500);
    expect(await readyz(ports.queryMetrics)).toBe(503);
    for (const port of otherPorts) expect(await readyz(port)).toBe(503);

    // The command service creates the database and its schema: the query service serves.
    const command = await startService({
      name: "command-service",
      entry: entry("command-service"),
      env: {
        ...env.env,
        DATABASE_URL: lateUrl,
        COMMAND_PORT: String(ports.command),
        METRICS_PORT: String(ports.commandMetrics),
        LOG_FORMAT: "json",
      },
      readyUrl: `http://127.0.0.1:${ports.commandMetrics}/readyz`,
    });
    started.push(command);
    await eventually(async () => (await readyz(ports.queryMetrics)) === 200, "query-service ready", 60_000);
    expect(await healthCheck(ports.query, "")).toBe("SERVING");
    expect(query.output()).toMatch(/Postgres database .* is ready \(after \d+\.\d s\)/);

    // NATS answers again: the relay and both projectors start.
    await natsProxy.up();
    for (const port of otherPorts) {
      await eventually(async () => (await readyz(port)) === 200, `ready on ${port}`, 60_000);
    }
    for (const service of [query, ...others]) expect(alive(service)).toBe(true);
    // Logged once, then at a low rate: a handful of lines in several seconds, not one per attempt.
    const waitingLines = query
      .output()
      .split("\n")
      .filter((l) => l.includes("waiting for Postgres database"));
    expect(waitingLines.length).toBeGreaterThanOrEqual(1);
    expect(waitingLines.length).toBeLessThanOrEqual(3);
  }, 180_000);

  it("the command service waits NOT_SERVING for Postgres (never for NATS), then creates the database and serves", async () => {
    const postgres = new URL(env.databaseUrl);
    const pgProxy = await startTcpProxy({ port: Number(postgres.port || 5432) });
    proxies.push(pgProxy);
    await pgProxy.down();
    const url = new URL(env.databaseUrl);
    const database = `${url.pathname.slice(1)}_cmd`;
    url.pathname = `/${database}`;
    const ports = { command: await freePort(), metrics: await freePort(), nats: await freePort() };
    const command = await startService({
      name: "command-service-waits",
      entry: entry("command-service"),
      env: {
        ...env.env,
        DATABASE_URL: pgProxy.url(url.toString()),
        // Nobody listens there: appends never depend on NATS (ADR 0010), so neither does the start.
        NATS_URL: `nats://127.0.0.1:${ports.nats}`,
        COMMAND_PORT: String(ports.command),
        METRICS_PORT: String(ports.metrics),
        LOG_FORMAT: "json",
      },
      readyLine: /waiting for/,
    });
    started.push(command);
    try {
      await sleep(2_000);
      expect(await readyz(ports.metrics)).toBe(503);
      expect(command.output()).toMatch(/waiting for Postgres at .*\(DATABASE_URL\)/);
      expect(alive(command)).toBe(true);

      await pgProxy.up();
      await eventually(async () => (await readyz(ports.metrics)) === 200, "command-service ready", 60_000);
      expect(command.output()).toMatch(/Postgres at .* is ready \(after \d+\.\d s\)/);
      await eventually(() => command.output().includes("command-service ready"), "the ready line", 5_000);
    } finally {
      await command.kill().catch(() => undefined);
      const admin = new pg.Client({ connectionString: env.databaseUrl });
      await admin.connect();
      await admin.query(`drop database if exists ${database} with (force)`);
      await admin.end();
    }
  }, 120_000);

  it("give up after ORDERLY_STARTUP_TIMEOUT_MS, exit non-zero and name the dependency", async () => {
    const closed = await freePort();
    const missing = new URL(env.databaseUrl);
    missing.pathname = `/${lateDatabase}_never`;
    const query = await startService({
      name: "query-service-timeout",
      entry: entry("query-service"),
      env: {
        ...env.env,
        DATABASE_URL: missing.toString(),
        QUERY_PORT: "0",
        METRICS_PORT: "0",
        ORDERLY_STARTUP_TIMEOUT_MS: "2000",
        LOG_FORMAT: "json",
      },
    });
    const relay = await startService({
      name: "outbox-relay-timeout",
      entry: entry("outbox-relay"),
      env: {
        ...env.env,
        NATS_URL: `nats://127.0.0.1:${closed}`,
        METRICS_PORT: "0",
        ORDERLY_STARTUP_TIMEOUT_MS: "2000",
        LOG_FORMAT: "json",
      },
    });
    const command = await startService({
      name: "command-service-timeout",
      entry: entry("command-service"),
      env: {
        ...env.env,
        DATABASE_URL: `postgres://127.0.0.1:${closed}/orderly`,
        COMMAND_PORT: "0",
        METRICS_PORT: "0",
        ORDERLY_STARTUP_TIMEOUT_MS: "2000",
        LOG_FORMAT: "json",
      },
    });
    started.push(query, relay, command);
    expect(await command.exited).toBe(1);
    // The default user is filled in (as libpq does), so the URL names it.
    expect(command.output()).toMatch(
      new RegExp(
        `command-service did not start: gave up after 2 s waiting for Postgres at postgres://(\\w+@)?127\\.0\\.0\\.1:${closed}/orderly`,
      ),
    );
    expect(await query.exited).toBe(1);
    expect(query.output()).toContain(
      `query-service did not start: gave up after 2 s waiting for Postgres database \\"${lateDatabase}_never\\"`,
    );
    expect(query.output()).toContain("does not exist yet; the command service creates it");
    expect(await relay.exited).toBe(1);
    expect(relay.output()).toContain(
      `outbox-relay did not start: gave up after 2 s waiting for NATS at nats://127.0.0.1:${closed}`,
    );
    expect(relay.output()).toContain("ORDERLY_STARTUP_TIMEOUT_MS");
  }, 60_000);
});

function alive(service: RunningService): boolean {
  return service.child.exitCode === null && service.child.signalCode === null;
}
