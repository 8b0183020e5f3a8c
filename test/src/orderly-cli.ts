import { fileURLToPath } from "node:url";
import { type NodeRun, runNode } from "@orderly/testing";

/** The built operator CLI (`pnpm orderly`). */
export const cliEntry = fileURLToPath(new URL("../../services/orderly-cli/dist/main.js", import.meta.url));

/**
 * `pnpm orderly <args>` (the built CLI) with `env` over this process's environment, SIGKILLed after `timeoutMs`
 * (default 120 s); resolves with its exit code and output.
 */
export function runOrderly(
  args: readonly string[],
  env: Record<string, string>,
  options: { readonly cwd?: string; readonly timeoutMs?: number } = {},
): Promise<NodeRun> {
  return runNode(cliEntry, args, {
    env: { ...process.env, ...env },
    timeoutMs: options.timeoutMs ?? 120_000,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
}

/** Its output for an assertion's message: stderr, then stdout, the last 3,000 characters. */
export const outputOf = (run: NodeRun): string => `${run.stderr}\n${run.stdout}`.slice(-3000);
