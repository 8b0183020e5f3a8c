import {
  answers200,
  createTestEnvironment,
  freePort,
  type NatsServer,
  type PostgresServer,
  type RedisServer,
  type RunningService,
  startNatsServer,
  startPostgresServer,
  startRedisServer,
  startService,
  type TestEnvironment,
} from "@orderly/testing";
import { afterAll, beforeAll } from "vitest";
import { serviceEntry, stackServiceEnv } from "../query-service/stack.js";
import type { FaultProfile } from "./profile.js";

// The five services as separate processes (as a container platform runs them) against a Postgres, NATS and Redis
// of the suite's own, so that a scenario may restart, wipe or restore a server. Like a platform with a restart
// policy, the stack restarts a service that exits, and counts it.

/** How often projector-redis checks for partial loss in the fault stack (its detection bound is the sum). */
export const partialLoss = { checkIntervalMs: 1_000, auditPassMs: 5_000 } as const;

export const serviceNames = [
  "command-service",
  "outbox-relay",
  "projector-postgres",
  "projector-redis",
  "query-service",
] as const;
export type ServiceName = (typeof serviceNames)[number];

/**
 * The suite's own servers: one of each per test file, every scenario in its own database and namespace on them. NATS
 * and Redis may be clusters (`url` lists their nodes).
 */
export interface OwnServers<
  Nats extends { readonly url: string } = NatsServer,
  Redis extends { readonly url: string } = RedisServer,
> {
  readonly postgres: PostgresServer;
  readonly nats: Nats;
  readonly redis: Redis;
  close(): Promise<void>;
}

export async function startOwnServers(): Promise<OwnServers> {
  const [postgres, nats, redis] = await Promise.all([startPostgresServer(), startNatsServer(), startRedisServer()]);
  return {
    postgres,
    nats,
    redis,
    async close() {
      await Promise.allSettled([postgres.close(), nats.close(), redis.close()]);
    },
  };
}

export interface FaultStack {
  readonly env: TestEnvironment;
  readonly servers: OwnServers<{ readonly url: string }, { readonly url: string }>;
  readonly ports: { command: number; query: number; metrics: Record<ServiceName, number> };
  /** The database the services use now (`restartAll` may move them to another one). */
  databaseUrl(): string;
  /** The environment the services run with now: for the operator CLI. */
  serviceEnv(): Record<string, string>;
  /** The live process of a service (replaced on every restart). */
  service(name: ServiceName): RunningService;
  /** Restarts the stack performed because a service exited (SIGKILL, crash, its own exit on a lost dependency). */
  readonly restarts: { name: ServiceName; at: number; code: number | string }[];
  /** SIGKILL; the stack's restart policy brings it back (`restarted(name)` waits for that). */
  kill(name: ServiceName): Promise<void>;
  /** Resolves once the restart queued after the service's last exit is ready. */
  restarted(name: ServiceName): Promise<void>;
  /** SIGSTOP / SIGCONT: the process is frozen (sockets open, nothing answered) and later resumes. */
  pause(name: ServiceName): void;
  resume(name: ServiceName): void;
  /**
   * SIGTERM every service and start it again with `env` changed (e.g. another DATABASE_URL); resolves once they run,
   * ready or not.
   */
  restartAll(env?: Record<string, string>): Promise<void>;
  /** Readiness of every service: `/readyz` 200 within a second. */
  readiness(): Promise<Record<ServiceName, boolean>>;
  metrics(name: ServiceName): Promise<string>;
  /** Every line every process of this service printed, across restarts. */
  output(name: ServiceName): string;
  stop(): Promise<void>;
}

/**
 * The test file's own servers and a fault stack on them: started before its tests, stopped after them. Read `servers`
 * and `stack` inside a test (they are set in beforeAll).
 */
export function faultStackForFile(profile: FaultProfile): { readonly servers: OwnServers; readonly stack: FaultStack } {
  const file = {} as { servers: OwnServers; stack: FaultStack };
  beforeAll(async () => {
    file.servers = await startOwnServers();
    file.stack = await startFaultStack(file.servers, profile);
  }, 240_000);
  afterAll(async () => {
    await file.stack?.stop();
    await file.servers?.close();
  }, 120_000);
  return file;
}

/** `serviceEnv`: added to every service's environment (e.g. ORDERLY_STREAM_REPLICAS on a NATS cluster). */
export async function startFaultStack(
  servers: OwnServers<{ readonly url: string }, { readonly url: string }>,
  profile: FaultProfile,
  serviceEnv: Record<string, string> = {},
): Promise<FaultStack> {
  const env = await createTestEnvironment({
    adminDatabaseUrl: servers.postgres.adminUrl,
    natsUrl: servers.nats.url,
    redisUrl: servers.redis.url,
  });
  const metrics = {} as Record<ServiceName, number>;
  for (const name of serviceNames) metrics[name] = await freePort();
  const ports = { command: await freePort(), query: await freePort(), metrics };
  const live = new Map<ServiceName, RunningService>();
  const pastOutput = new Map<ServiceName, string>();
  const expectedExit = new Set<RunningService>();
  const restarts: FaultStack["restarts"] = [];
  let overrides: Record<string, string> = { ...serviceEnv };
  let stopping = false;

  /**
   * Starts a service; with `awaitReady` resolves once its /readyz answers 200, else as soon as it runs (a service
   * facing a diverged store stays NOT_SERVING on purpose).
   */
  const launch = async (name: ServiceName, awaitReady = true): Promise<RunningService> => {
    const deadline = Date.now() + 120_000;
    while (true) {
      try {
        const service = await startService({
          name,
          entry: serviceEntry(name),
          env: {
            ...stackServiceEnv(env, ports, metrics[name]),
            PROJECTOR_ACK_WAIT_MS: String(profile.ackWaitMs),
            // customer_orders' partial-loss detection, bound interval + pass (ADR 0007): 6 s here instead of 65 s.
            PROJECTOR_REDIS_CHECK_INTERVAL_MS: String(partialLoss.checkIntervalMs),
            PROJECTOR_REDIS_AUDIT_PASS_MS: String(partialLoss.auditPassMs),
            QUERY_MAX_WAIT_MS: "30000",
            ...overrides,
          },
          ...(awaitReady ? { readyUrl: `http://127.0.0.1:${metrics[name]}/readyz`, readyTimeoutMs: 90_000 } : {}),
        });
        live.set(name, service);
        void service.exited.then((code) => onExit(name, service, code));
        return service;
      } catch (error) {
        // A platform retries a container that dies at start (e.g. its database is not back yet).
        pastOutput.set(name, `${pastOutput.get(name) ?? ""}${String(error)}\n`);
        if (stopping || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  };
  const restarting = new Map<ServiceName, Promise<RunningService>>();
  const onExit = (name: ServiceName, service: RunningService, code: number | string) => {
    pastOutput.set(name, `${pastOutput.get(name) ?? ""}${service.output()}`);
    if (stopping || expectedExit.has(service)) return;
    restarts.push({ name, at: Date.now(), code });
    const next = new Promise<void>((r) => setTimeout(r, 250)).then(() => launch(name, false));
    restarting.set(name, next);
    next.catch(() => undefined);
  };

  const stack: FaultStack = {
    env,
    servers,
    ports,
    restarts,
    databaseUrl: () => overrides.DATABASE_URL ?? env.databaseUrl,
    serviceEnv: () => ({ ...env.env, ...overrides }),
    service(name) {
      const service = live.get(name);
      if (!service) throw new Error(`${name} is not running`);
      return service;
    },
    async kill(name) {
      const service = stack.service(name);
      await service.kill();
    },
    async restarted(name) {
      await new Promise((r) => setTimeout(r, 0));
      await restarting.get(name);
      const url = `http://127.0.0.1:${metrics[name]}/readyz`;
      const deadline = Date.now() + 90_000;
      while (!(await answers200(url))) {
        if (Date.now() > deadline) throw new Error(`${name} was not ready 90 s after its restart`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    pause(name) {
      process.kill(stack.service(name).pid, "SIGSTOP");
    },
    resume(name) {
      process.kill(stack.service(name).pid, "SIGCONT");
    },
    async restartAll(changed = {}) {
      overrides = { ...overrides, ...changed };
      for (const name of [...serviceNames].reverse()) {
        const service = live.get(name);
        if (!service) continue;
        expectedExit.add(service);
        await service.stop("SIGTERM", 20_000);
      }
      for (const name of serviceNames) await launch(name, false);
    },
    async readiness() {
      const entries = await Promise.all(
        serviceNames.map(async (name) => [name, await answers200(`http://127.0.0.1:${metrics[name]}/readyz`)] as const),
      );
      return Object.fromEntries(entries) as Record<ServiceName, boolean>;
    },
    async metrics(name) {
      const response = await fetch(`http://127.0.0.1:${metrics[name]}/metrics`, { signal: AbortSignal.timeout(2000) });
      return response.text();
    },
    output(name) {
      return `${pastOutput.get(name) ?? ""}${live.get(name)?.output() ?? ""}`;
    },
    async stop() {
      stopping = true;
      await Promise.allSettled(restarting.values());
      for (const name of [...serviceNames].reverse()) {
        const service = live.get(name);
        if (!service) continue;
        // A paused process ignores SIGTERM until it runs again.
        try {
          process.kill(service.pid, "SIGCONT");
        } catch {}
        await service.stop("SIGTERM", 10_000);
      }
      await env.cleanup().catch(() => undefined);
    },
  };
  try {
    for (const name of serviceNames) await launch(name);
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}
