import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type NodeRun, runNode } from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeServer, startFakeOrderlyServer } from "./fake-orderly-server.js";
import type { Report } from "./report.js";

// The built CLI (`pnpm loadtest` runs dist/cli.js; turbo builds before it tests) as a process: exit codes and output.
const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

function runCli(args: string[]): Promise<NodeRun> {
  return runNode(cli, args);
}

describe("loadtest CLI", () => {
  let server: FakeServer;
  beforeAll(async () => {
    if (!existsSync(cli))
      throw new Error(`${cli} is missing: build the package first (pnpm --filter @orderly/loadtest build)`);
    server = await startFakeOrderlyServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it("prints one JSON report with the mix's status counts and exits 0 when the SLO is met", async () => {
    const { code, stdout, stderr } = await runCli([
      "--address",
      `127.0.0.1:${server.port}`,
      "--concurrency",
      "8",
      "--count",
      "300",
      "--duplicates",
      "5%",
      "--conflicts",
      "5%",
      "--seed",
      "7",
      "--json",
      "--slo",
      "errors<0.1%,p99.9<60s",
    ]);
    expect(stderr).toBe(""); // no progress bar when stderr is not a terminal
    expect(code).toBe(0);
    const lines = stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0] ?? "") as Report;
    expect(report).toMatchObject({ tool: "orderly-loadtest", schema_version: 1, total: 300, errors: 0 });
    expect(report.command).toContain("--count 300");
    expect(report.options).toMatchObject({ mode: "closed", concurrency: 8, count: 300, seed: 7, conflict_rate: 0.05 });
    expect(report.status_codes.ABORTED).toBe(report.by_kind.conflict.count);
    expect((report.status_codes.OK ?? 0) + (report.status_codes.ABORTED ?? 0)).toBe(300);
    expect(report.slo?.passed).toBe(true);
  });

  it("exits 1 when an SLO is missed, and says which", async () => {
    const { code, stdout } = await runCli(["-a", `127.0.0.1:${server.port}`, "-n", "50", "--slo", "p99<1us"]);
    expect(code).toBe(1);
    expect(stdout).toContain("SLO: MISSED");
    expect(stdout).toMatch(/FAIL p99<1us/);
  });

  it("prints the text report by default", async () => {
    const { code, stdout } = await runCli([
      "-a",
      `127.0.0.1:${server.port}`,
      "--rate",
      "200",
      "-n",
      "100",
      "--create-only",
    ]);
    expect(code).toBe(0);
    expect(stdout).toContain("open loop at 200 calls/s");
    expect(stdout).toMatch(/\[OK\]\s+100 responses/);
    expect(stdout).toContain("Schedule: intended 100, sent 100");
    expect(stdout).toContain("Generator: CPU");
  });

  it("writes the HTML report, redraws it from saved JSON, and refuses a --compare it cannot draw", async () => {
    const dir = mkdtempSync(join(tmpdir(), "loadtest-cli-"));
    try {
      const html = join(dir, "r.html");
      const run = await runCli(["-a", `127.0.0.1:${server.port}`, "-n", "100", "--json", "--html", html]);
      expect(run.code).toBe(0);
      const page = readFileSync(html, "utf8");
      expect(page).toContain('data-chart="percentiles"');
      const json = join(dir, "r.json");
      writeFileSync(json, `noise before the report\n${run.stdout}`);
      const again = join(dir, "again.html");
      const redraw = await runCli(["--from-json", json, "--html", again]);
      expect(redraw.code).toBe(0);
      expect(readFileSync(again, "utf8")).toBe(page);
      const compared = await runCli(["--from-json", json, "--html", again, "--compare", json]);
      expect(compared.code).toBe(0);
      expect(readFileSync(again, "utf8")).toContain('id="compare-data"');
      const noHtml = await runCli(["--from-json", json, "--compare", json]);
      expect(noHtml.code).toBe(2);
      expect(noHtml.stderr).toContain("--html");
      writeFileSync(join(dir, "bad.json"), '{"tool":"ghz"}');
      const bad = await runCli(["--from-json", join(dir, "bad.json")]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("not a report of orderly-loadtest");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("exits 2 on bad usage and when the server cannot be reached", async () => {
    const usage = await runCli(["--rate", "10", "--concurrency", "2"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("not both");
    const badSlo = await runCli(["--slo", "p98<1ms"]);
    expect(badSlo.code).toBe(2);
    expect(badSlo.stderr).toContain('unknown metric "p98"');
    const unreachable = await runCli(["-a", "127.0.0.1:1", "-n", "1", "--connect-timeout", "300ms"]);
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toContain("cannot connect");
  });
});
