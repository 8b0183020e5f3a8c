import type { Logger } from "pino";
import { ConfigError } from "./config.js";
import { StartupTimeoutError } from "./startup.js";

/**
 * Runs a service's `main`. When it rejects, logs one fatal line — a ConfigError or a StartupTimeoutError as its message
 * alone (the operator's mistake or a missing dependency, no stack), anything else with its stack — and exits 1 once
 * the logger had time to flush, even if a handle still keeps the event loop alive.
 */
export function runMain(name: string, logger: Logger, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    if (error instanceof ConfigError) logger.fatal(error.message);
    else if (error instanceof StartupTimeoutError) logger.fatal(`${name} did not start: ${error.message}`);
    else logger.fatal({ err: error }, `${name} failed to start: ${(error as Error).message}`);
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 100).unref();
  });
}
