import type { Command } from "commander";
import type { CliContext } from "./context.js";

/** Exit codes of every subcommand: 0 = fine, 1 = a finding (something differs or is down), 2 = could not run. */
export const EXIT_OK = 0;
export const EXIT_FINDING = 1;
export const EXIT_FAILED = 2;
export type ExitCode = typeof EXIT_OK | typeof EXIT_FINDING | typeof EXIT_FAILED;

/** What a subcommand found: the exit code, the `--json` document and the text for a person. */
export interface CommandResult {
  readonly exitCode: ExitCode;
  /** Printed as one JSON document with `--json`. */
  readonly json: unknown;
  /** Printed otherwise. */
  readonly text: string;
}

/**
 * One subcommand of `pnpm orderly`, in its own file and listed once in `commands.ts`. `configure` adds arguments and
 * options to the commander command (already named and described, `--json` is global); `run` gets the positional
 * arguments and the parsed options.
 */
export interface CliCommand {
  /** commander's name and argument syntax, e.g. `status` or `rebuild <read-model>`. */
  readonly name: string;
  readonly description: string;
  configure?(command: Command): void;
  run(context: CliContext, args: readonly string[], options: Record<string, unknown>): Promise<CommandResult>;
}

/** A subcommand that cannot run (bad argument, a server it needs is down): exit 2 with this message. */
export class CommandFailedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CommandFailedError";
  }
}
