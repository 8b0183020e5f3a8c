import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { notInSecureSubset } from "../secure-mode.js";
import { CommandLog } from "./checker.js";
import { expectNoDamage } from "./expectations.js";
import { faultStackForFile, type ServiceName } from "./fault-stack.js";
import { faultProfile } from "./profile.js";
import { runScenario } from "./scenario.js";

// Process faults under load, each service a separate process restarted by the stack as a platform would:
// SIGKILL of every kind, and SIGSTOP of the relay and each projector for longer than the consumers' ack wait.

const profile = faultProfile();
const own = faultStackForFile(profile);
const log = new CommandLog();

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
        const { stack } = own;
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
        const { stack } = own;
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
