import { readStackConfig } from "@orderly/observability";
import { describe, expect, it } from "vitest";
import { runCli } from "./cli.js";
import { type CliCommand, CommandFailedError, EXIT_FAILED, EXIT_FINDING, EXIT_OK, type ExitCode } from "./command.js";
import { type CliContext, openContext } from "./context.js";
import { progressFactory } from "./progress.js";

function fake(name: string, exitCode: ExitCode, seen: { args?: readonly string[]; json?: boolean } = {}): CliCommand {
  return {
    name,
    description: `${name} for tests`,
    configure: (command) => command.option("--limit <n>", "a number"),
    async run(context, args, options) {
      seen.args = args;
      seen.json = context.json;
      return { exitCode, json: { exitCode, limit: options.limit ?? null }, text: `exit ${exitCode}` };
    },
  };
}

const failing: CliCommand = {
  name: "broken",
  description: "cannot run",
  async run() {
    throw new CommandFailedError("Postgres at postgres://x: connection refused");
  },
};

const crashing: CliCommand = {
  name: "crash",
  description: "a bug",
  async run() {
    throw new TypeError("undefined is not a function");
  },
};

async function run(argv: string[], commands: readonly CliCommand[]) {
  let stdout = "";
  let stderr = "";
  let closed = 0;
  const code = await runCli(
    argv,
    commands,
    ({ json }) => ({
      context: { json } as CliContext,
      close: async () => {
        closed++;
      },
    }),
    { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) },
  );
  return { code, stdout, stderr, closed };
}

describe("pnpm orderly", () => {
  const commands = [fake("fine", EXIT_OK), fake("finds", EXIT_FINDING), failing, crashing];

  it("exits with the subcommand's code: 0 fine, 1 a finding", async () => {
    expect((await run(["fine"], commands)).code).toBe(EXIT_OK);
    const finding = await run(["finds"], commands);
    expect(finding.code).toBe(EXIT_FINDING);
    expect(finding.stdout).toBe("exit 1\n");
    expect(finding.closed).toBe(1);
  });

  it.each([
    ["when a command cannot run", "broken", "connection refused"],
    ["on a bug in a command, not 1", "crash", "undefined is not a function"],
  ])("exits 2 %s, and says why on stderr", async (_, command, why) => {
    const result = await run([command], commands);
    expect(result.code).toBe(EXIT_FAILED);
    expect(result.stderr).toContain(why);
    expect(result.stdout).toBe("");
    expect(result.closed).toBe(1);
  });

  it("exits 2 on usage errors: unknown command, unknown option, no command", async () => {
    expect((await run(["nope"], commands)).code).toBe(EXIT_FAILED);
    expect((await run(["fine", "--bogus"], commands)).code).toBe(EXIT_FAILED);
    expect((await run([], commands)).code).toBe(EXIT_FAILED);
  });

  it("exits 0 on --help", async () => {
    const result = await run(["--help"], commands);
    expect(result.code).toBe(EXIT_OK);
    expect(result.stdout).toContain("finds");
  });

  it("prints one JSON document with --json, before or after the subcommand, and passes options", async () => {
    const seen: { json?: boolean } = {};
    for (const argv of [
      ["--json", "finds", "--limit", "3"],
      ["finds", "--limit", "3", "--json"],
    ]) {
      const result = await run(argv, [fake("finds", EXIT_FINDING, seen)]);
      expect(result.code).toBe(EXIT_FINDING);
      expect(JSON.parse(result.stdout)).toEqual({ exitCode: 1, limit: "3" });
      expect(seen.json).toBe(true);
    }
  });

  it("with --json, a failure is a JSON document too", async () => {
    const result = await run(["broken", "--json"], commands);
    expect(result.code).toBe(EXIT_FAILED);
    expect(JSON.parse(result.stdout)).toEqual({ error: "Postgres at postgres://x: connection refused" });
  });

  it("an unreachable server is a CommandFailedError naming it (exit 2)", async () => {
    const stack = readStackConfig({
      DATABASE_URL: "postgres://nobody@127.0.0.1:1/none",
      REDIS_URL: "redis://127.0.0.1:1",
    });
    const opened = openContext({
      stack,
      json: true,
      progress: progressFactory(false),
      note: () => {},
      connectTimeoutMs: 500,
    });
    try {
      await expect(opened.context.pool()).rejects.toThrow(CommandFailedError);
      await expect(opened.context.redis()).rejects.toThrow(/Redis at redis:\/\/127.0.0.1:1/);
    } finally {
      await opened.close();
    }
  });
});
