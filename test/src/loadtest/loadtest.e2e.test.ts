import { fileURLToPath } from "node:url";
import type { Report } from "@orderly/loadtest";
import { type NodeRun, type RunningService, runNode, type TestEnvironment } from "@orderly/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StackPorts, startTestStack, stopTestStack } from "../ops/support.js";
import { loadtestSecurityArgs, secureMode, secureToken } from "../secure-mode.js";

// Issue 7: "The load tester's JSON output is checked in a short run against the real stack." `pnpm loadtest` (the
// built CLI) as a process against `pnpm start` (services/stack) in a test namespace: the realistic mix with
// duplicates and conflicts, read-your-writes checks through the query service, and the event store afterwards
// holding exactly the events the report says were accepted. In secure mode (ORDERLY_E2E_SECURE=1) the stack serves
// TLS + mTLS + JWT and the CLI gets --ca, --cert, --key and --token-file.

const cli = fileURLToPath(new URL("../../../packages/loadtest/dist/cli.js", import.meta.url));
const COUNT = 300;

function runCli(args: string[]): Promise<NodeRun> {
  return runNode(cli, args);
}

describe("pnpm loadtest against the running stack", () => {
  let env: TestEnvironment;
  let stack: RunningService;
  let ports: StackPorts;

  beforeAll(async () => {
    // A generous read-your-writes budget: this test checks outcomes, not speed, on a shared machine.
    ({ env, stack, ports } = await startTestStack({ QUERY_MAX_WAIT_MS: "30000" }));
  });
  afterAll(() => stopTestStack(env, stack));

  it("reports every call with its status, and the store holds exactly the accepted commands", async () => {
    const { code, stdout, stderr } = await runCli([
      "--address",
      `127.0.0.1:${ports.COMMAND_PORT}`,
      "--query-address",
      `127.0.0.1:${ports.QUERY_PORT}`,
      "--concurrency",
      "8",
      "--count",
      String(COUNT),
      "--duplicates",
      "5%",
      "--conflicts",
      "5%",
      "--ryw-rate",
      "50%",
      "--timeout",
      "60s",
      "--seed",
      "42",
      "--json",
      "--slo",
      "errors<0.1%",
      ...loadtestSecurityArgs(),
    ]);
    expect(stderr).toBe("");
    const lines = stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0] ?? "") as Report;
    expect(report.error_messages).toEqual([]);
    expect(code).toBe(0);
    expect(report).toMatchObject({ tool: "orderly-loadtest", schema_version: 1, total: COUNT, ok: COUNT, errors: 0 });
    expect(report.slo?.passed).toBe(true);
    expect(report.options.security).toEqual({
      tls: secureMode,
      client_certificate: secureMode,
      server_name: null,
      token: secureMode ? "file" : null,
    });
    if (secureMode) expect(stdout).not.toContain(secureToken());

    // Conflicts (stale expected_version) are exactly the ABORTED replies; everything else is OK.
    const k = report.by_kind;
    expect(report.status_codes.ABORTED ?? 0).toBe(k.conflict.count);
    expect(report.status_codes.OK).toBe(COUNT - k.conflict.count);
    expect(k.conflict.count).toBeGreaterThan(0);
    expect(k.duplicate.count).toBeGreaterThan(0);
    expect(k.pay.count).toBeGreaterThan(0);
    expect(k.create.count + k.pay.count + k.ship.count + k.cancel.count + k.duplicate.count + k.conflict.count).toBe(
      COUNT,
    );

    // Read-your-writes through GetOrderSummary(min_position): every check saw its command's effect.
    expect(report.ryw?.checks).toBeGreaterThan(0);
    expect(report.ryw?.failed).toBe(0);
    expect(report.ryw?.status_codes).toEqual({ OK: report.ryw?.checks });
    expect(report.ryw?.latency_ms.count).toBe(report.ryw?.checks);
    expect(report.generator.calls).toBe(COUNT + (report.ryw?.checks ?? 0));

    // Duplicates and conflicts left no trace: one event and one idempotency row per fresh accepted command.
    const fresh = k.create.count + k.pay.count + k.ship.count + k.cancel.count;
    const client = new pg.Client({ connectionString: env.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ events: number; streams: number; commands: number }>(
        `select (select count(*)::int from events) as events,
                (select count(distinct stream_id)::int from events) as streams,
                (select count(*)::int from processed_commands) as commands`,
      );
      expect(rows[0]).toEqual({ events: fresh, streams: k.create.count, commands: fresh });
    } finally {
      await client.end();
    }
  });
});
