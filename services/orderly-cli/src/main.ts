#!/usr/bin/env node
import { ConfigError, readStackConfig, type StackConfig } from "@orderly/observability";
import { runCli } from "./cli.js";
import { EXIT_FAILED } from "./command.js";
import { commands } from "./commands.js";
import { openContext } from "./context.js";
import { progressFactory } from "./progress.js";

// Composition root of `pnpm orderly`: the same environment as the services (DATABASE_URL, NATS_URL, REDIS_URL,
// ORDERLY_NAMESPACE), read here and nowhere else.

async function main(): Promise<number> {
  let stack: StackConfig;
  try {
    stack = readStackConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // --help needs no configuration.
    if (!process.argv.slice(2).some((a) => a === "--help" || a === "-h")) {
      process.stderr.write(`orderly: ${error.message}\n`);
      return EXIT_FAILED;
    }
    stack = readStackConfig({});
  }
  const interactive = process.stdout.isTTY === true && process.stderr.isTTY === true;
  return runCli(
    process.argv.slice(2),
    commands,
    ({ json }) =>
      openContext({
        stack,
        json,
        progress: progressFactory(interactive && !json),
        note: (message) => process.stderr.write(`${message}\n`),
      }),
    {
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
    },
  );
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`orderly: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = EXIT_FAILED;
  },
);
