import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notInSecureSubset } from "../secure-mode.js";
import { CommandLog } from "./checker.js";
import { expectNoDamage } from "./expectations.js";
import { type FaultStack, type OwnServers, type ServiceName, startFaultStack, startOwnServers } from "./fault-stack.js";
import { faultProfile } from "./profile.js";
import { runScenario } from "./scenario.js";

// Process faults under load, each service a separate process restarted by the stack as a platform would:
// SIGKILL of every kind, and SIGSTOP of the relay and each projector for longer than the consumers' ack wait.

const profile = faultProfile();
let servers: OwnServers;
let stack: FaultStack;
const log = new CommandLog();

beforeAll(async () => {
  servers = await startOwnServers();
  stack = await startFaultStack(servers, profile);
}, 240_000);
afterAll(async () => {
  await stack?.stop();
  await servers?.close();
}, 120_000);

const timeout = profile.faultAtMs + profile.pauseMs + profile.recoverTimeoutMs + profile.tailMs + 180_000;

describe(`process faults under load (${profile.name} profile)`, () => {
  const kinds: ServiceName[] = [
    "command-service",
    "outbox-relay",
    "projector-postgres",
    "projector-redis",
    "query-service",
  ];
  for (const name of kinds) {
    // Secure mode's subset: the two services clients call (reconnect over TLS, tokens re-sent).
    it.skipIf(notInSecureSubset(name === "command-service" || name === "query-service"))(
      `SIGKILL of ${name}: restarted, nothing lost, both read models and the stream equal the store`,
      async () => {
        const result = await runScenario({
          name: `SIGKILL ${name}`,
          stack,
          profile,
          log,
          fault: async () => {
            const startedAt = Date.now();
            await stack.kill(name);
            return { startedAt, liftedAt: startedAt };
          },
        });
        await stack.restarted(name);
        expectNoDamage(result);
        expect(result.restarts).toBeGreaterThanOrEqual(1);
      },
      timeout,
    );
  }

  for (const name of ["outbox-relay", "projector-postgres", "projector-redis"] as const) {
    it.skipIf(notInSecureSubset(false))(
      `SIGSTOP of ${name} for longer than the ack wait, then SIGCONT: it resumes, nothing lost or doubled`,
      async () => {
        const result = await runScenario({
          name: `SIGSTOP ${name} ${(profile.pauseMs / 1000).toFixed(1)} s`,
          stack,
          profile,
          log,
          fault: async () => {
            const startedAt = Date.now();
            stack.pause(name);
            await sleep(profile.pauseMs);
            stack.resume(name);
            return { startedAt, liftedAt: Date.now() };
          },
        });
        expectNoDamage(result);
        // A frozen process is not a dead one: nothing had to restart it.
        expect(result.restarts).toBe(0);
      },
      timeout,
    );
  }
});
