import { Command, CommanderError } from "commander";
import {
  type CliCommand,
  CommandFailedError,
  type CommandResult,
  EXIT_FAILED,
  EXIT_OK,
  type ExitCode,
} from "./command.js";
import type { OpenedContext } from "./context.js";

/** Where the CLI writes; `process.stdout`/`stderr` in `main`, buffers in tests. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Opens the connections' holder for one run (`main` binds the configuration; tests pass fakes). */
export type ContextOpener = (options: { json: boolean }) => OpenedContext;

/**
 * Parses `argv` (the user's arguments, without node and the script), runs one subcommand and prints its result.
 * Never throws and never exits the process: it returns the exit code. Usage errors are 2, like a command that
 * could not run.
 */
export async function runCli(
  argv: readonly string[],
  commands: readonly CliCommand[],
  open: ContextOpener,
  io: CliIo,
): Promise<ExitCode> {
  let outcome: { result: CommandResult; json: boolean } | undefined;
  let failure: { error: unknown; json: boolean } | undefined;
  const program = new Command("orderly")
    .description(
      "Operate an Orderly stack: status, verify, rebuild, recover. Exit 0 = fine, 1 = a finding, 2 = could not run.",
    )
    .option("--json", "print one JSON document instead of text (and no progress bars)")
    .showHelpAfterError("(run `pnpm orderly --help` for the commands)")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  for (const spec of commands) {
    const sub = program.command(spec.name).description(spec.description).exitOverride();
    spec.configure?.(sub);
    sub.action(async (...actionArgs: unknown[]) => {
      const command = actionArgs[actionArgs.length - 1] as Command;
      const options = command.optsWithGlobals() as Record<string, unknown>;
      const json = options.json === true;
      const args = (command.processedArgs as unknown[]).map((a) => (a === undefined ? "" : String(a)));
      const opened = open({ json });
      try {
        outcome = { result: await spec.run(opened.context, args, options), json };
      } catch (error) {
        failure = { error, json };
      } finally {
        await opened.close();
      }
    });
  }

  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with exit code 0; a usage error has already been printed.
      return error.exitCode === 0 ? EXIT_OK : EXIT_FAILED;
    }
    failure = { error, json: argv.includes("--json") };
  }
  if (failure) {
    const message = describe(failure.error);
    if (failure.json) io.stdout(`${JSON.stringify({ error: message }, null, 2)}\n`);
    io.stderr(`orderly: ${message}\n`);
    return EXIT_FAILED;
  }
  if (!outcome) {
    // No subcommand: commander printed nothing, so show the help.
    io.stderr(program.helpInformation());
    return EXIT_FAILED;
  }
  const { result, json } = outcome;
  io.stdout(json ? `${JSON.stringify(result.json, null, 2)}\n` : `${result.text.replace(/\n*$/, "")}\n`);
  return result.exitCode;
}

function describe(error: unknown): string {
  if (error instanceof CommandFailedError) return error.message;
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
    return `${error.message}${cause}`;
  }
  return String(error);
}
