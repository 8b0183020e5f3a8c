import type { Logger } from "pino";
import { ConfigError } from "./config.js";
import { createLogger, readLogConfig } from "./logger.js";
import { StartupTimeoutError } from "./startup.js";
import { startTracing, type Tracing } from "./tracing.js";

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

type Env = Readonly<Record<string, string | undefined>>;

/** What `runService` hands a service's `main`: its configuration, its logger and its tracing. */
export interface ServiceStart<C> {
  readonly config: C;
  readonly logger: Logger;
  /** OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise `tracer` is undefined and no span is made. */
  readonly tracing: Tracing;
}

/**
 * The start every service shares: its logger from `env` (LOG_LEVEL, LOG_FORMAT, NO_COLOR), then, under `runMain`, its
 * configuration (a ConfigError ends the process before anything starts) and its tracing, handed to `main`.
 */
export function runService<C>(
  name: string,
  env: Env,
  readConfig: (env: Env) => C,
  main: (start: ServiceStart<C>) => Promise<void>,
): void {
  const logger = createLogger(name, readLogConfig(env));
  runMain(name, logger, async () => {
    const config = readConfig(env);
    const tracing = startTracing(name, env);
    await main({ config, logger, tracing });
  });
}
