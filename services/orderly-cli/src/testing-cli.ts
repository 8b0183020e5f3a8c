// Test helpers: run the CLI in-process against a test environment (excluded from the build).
import { runCli } from "./cli.js";
import { commands } from "./commands.js";
import { readCliConfig } from "./config.js";
import { openContext } from "./context.js";
import { progressFactory } from "./progress.js";

export async function orderlyIn(env: Record<string, string>, ...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const { stack, unknownEventTypes } = readCliConfig(env);
  const code = await runCli(
    argv,
    commands,
    ({ json }) =>
      openContext({
        stack,
        unknownEventTypes,
        json,
        progress: progressFactory(false),
        note: () => {},
        warn: (line) => (stderr += `orderly: ${line}\n`),
      }),
    { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) },
  );
  return { code, stdout, stderr, json: () => JSON.parse(stdout) };
}
