#!/usr/bin/env node
import { ConfigError } from "@orderly/observability";
import { runCli } from "./cli.js";
import { EXIT_FAILED } from "./command.js";
import { commands } from "./commands.js";
import { type CliConfig, readCliConfig } from "./config.js";
import { openContext } from "./context.js";
import { progressFactory } from "./progress.js";

// Composition root of `pnpm orderly`: the same environment as the services (DATABASE_URL, NATS_URL, REDIS_URL,
// ORDERLY_NAMESPACE, and PROJECTOR_UNKNOWN_EVENT_TYPES for rebuilds), read here and nowhere else.

async function main(): Promise<number> {
  let config: CliConfig;
  try {
    config = readCliConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // --help needs no configuration.
    if (!process.argv.slice(2).some((a) => a === "--help" || a === "-h")) {
      process.stderr.write(`orderly: ${error.message}\n`);
      return EXIT_FAILED;
    }
    config = readCliConfig({});
  }
  const interactive = process.stdout.isTTY === true && process.stderr.isTTY === true;
  return runCli(
    process.argv.slice(2),
    commands,
    ({ json }) =>
      openContext({
        stack: config.stack,
        unknownEventTypes: config.unknownEventTypes,
        json,
        progress: progressFactory(interactive && !json),
        note: (message) => process.stderr.write(`${message}\n`),
        warn: (line) => process.stderr.write(`orderly: ${line}\n`),
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
