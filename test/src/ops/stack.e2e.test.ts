import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestEnvironment, eventually, freePort, startService, type TestEnvironment } from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alive, stackEntry, stackLogs } from "./support.js";

/** Stand-in services: serve /readyz on METRICS_PORT; on SIGTERM exit 0 ("polite") or ignore it ("stubborn"). */
async function standIns(
  kinds: Record<string, "polite" | "stubborn">,
): Promise<{ path: string; ports: Record<string, string> }> {
  const path = await mkdtemp(join(tmpdir(), "orderly-stand-ins-"));
  const ports: Record<string, string> = {};
  for (const [name, kind] of Object.entries(kinds)) {
    await mkdir(join(path, name, "dist"), { recursive: true });
    await writeFile(
      join(path, name, "dist", "main.js"),
      `import { createServer } from "node:http";
       const server = createServer((req, res) => { res.writeHead(200); res.end("ok"); });
       server.listen(Number(process.env.METRICS_PORT), "127.0.0.1", () => console.log("stand-in ready"));
       process.on("SIGTERM", () => {
         ${kind === "polite" ? `console.log("stand-in got SIGTERM"); process.exit(0);` : `console.log("stand-in ignores SIGTERM");`}
       });`,
    );
    ports[`${name.toUpperCase().replace(/-/g, "_")}_METRICS_PORT`] = String(await freePort());
  }
  return { path, ports };
}

/** `services/stack` running the stand-ins of `kinds` in `env`; resolves once it says they are ready. */
async function startStandInStack(
  env: TestEnvironment,
  name: string,
  kinds: Record<string, "polite" | "stubborn">,
  extraEnv: Record<string, string> = {},
) {
  const dir = await standIns(kinds);
  return startService({
    name,
    entry: stackEntry,
    env: { ...env.env, LOG_FORMAT: "json", ORDERLY_SERVICES_DIR: dir.path, ...extraEnv, ...dir.ports },
    readyLine: /services ready/,
    readyTimeoutMs: 60_000,
  });
}

/**
 * Runs `check` with the stand-ins the stack started, then waits for every one of them to exit; kills the stack
 * whatever happens.
 */
async function untilStandInsExit(
  stack: Awaited<ReturnType<typeof startStandInStack>>,
  check: (started: { service: string; pid: number }[]) => Promise<void>,
): Promise<void> {
  try {
    const started = startedChildren(stack.output());
    await check(started);
    await eventually(() => started.every((c) => !alive(c.pid)), "every stand-in to exit", 30_000);
  } finally {
    await stack.kill();
  }
}

function startedChildren(output: string): { service: string; pid: number }[] {
  return stackLogs(output)
    .filter((l) => typeof l.msg === "string" && l.msg.startsWith("started "))
    .map((l) => ({ service: l.service as string, pid: l.childPid as number }));
}

describe("pnpm start (services/stack)", () => {
  let env: TestEnvironment;
  beforeAll(async () => {
    env = await createTestEnvironment();
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  it("says so loudly and stops everything with a non-zero exit when a service dies", async () => {
    const stack = await startStandInStack(env, "stack-dies", { "alpha-service": "polite", "beta-service": "polite" });
    await untilStandInsExit(stack, async (started) => {
      expect(started.map((c) => c.service)).toEqual(["alpha-service", "beta-service"]);
      process.kill(started[0]?.pid ?? -1, "SIGKILL");
      expect(await stack.exited).toBe(1);
      expect(stack.output()).toContain("!!! alpha-service exited unexpectedly (signal SIGKILL); nothing is restarted");
      expect(stack.output()).toContain("!!! stopping every service");
      expect(stack.output()).toContain("[beta-service] stand-in got SIGTERM");
    });
  });

  it("SIGKILLs a service that ignores SIGTERM after STACK_STOP_TIMEOUT_MS and exits non-zero", async () => {
    const stack = await startStandInStack(
      env,
      "stack-stubborn",
      { "alpha-service": "polite", "stubborn-service": "stubborn" },
      { STACK_STOP_TIMEOUT_MS: "1000" },
    );
    await untilStandInsExit(stack, async () => {
      expect(await stack.stop("SIGTERM", 30_000)).toBe(1);
      expect(stack.output()).toContain("stubborn-service did not stop within 1000 ms: SIGKILL");
      expect(stack.output()).toContain("[stubborn-service] stand-in ignores SIGTERM");
    });
  });

  it("exits non-zero naming Postgres and its URL when Postgres is not running (own servers off)", async () => {
    const closed = await freePort();
    const url = `postgres://root@127.0.0.1:${closed}/orderly`;
    const stack = await startService({
      name: "stack-no-postgres",
      entry: stackEntry,
      args: ["--no-servers"],
      env: { ...env.env, DATABASE_URL: url, LOG_FORMAT: "json" },
    });
    const code = await stack.exited;
    expect(code).toBe(1);
    const output = stack.output();
    expect(output).toMatch(
      new RegExp(`Postgres is (installed \\(.*\\) but not running|not running) at ${url} \\(DATABASE_URL\\)`),
    );
    expect(output).not.toContain("NATS is");
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
