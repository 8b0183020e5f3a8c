import type { Logger } from "pino";

export interface ShutdownOptions {
  /** After this long the process exits with 1 even if `fn` has not finished (default 15 s). */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
  /** Call process.exit when done (default true; tests turn it off). */
  readonly exit?: boolean;
  readonly signals?: readonly NodeJS.Signals[];
}

/**
 * Runs `fn` once on the first SIGTERM or SIGINT, then exits 0 (1 if `fn` threw or overran `timeoutMs`).
 * Later signals are logged and otherwise ignored, so a second Ctrl-C does not cut a graceful stop short;
 * the timeout is the backstop. Returns a function that removes the handlers.
 */
export function shutdownOnSignals(
  fn: (signal: NodeJS.Signals) => Promise<void> | void,
  options: ShutdownOptions = {},
): () => void {
  const signals = options.signals ?? ["SIGTERM", "SIGINT"];
  const timeoutMs = options.timeoutMs ?? 15_000;
  const exit = (code: number) => {
    if (options.exit ?? true) process.exit(code);
  };
  let started = false;
  const handler = (signal: NodeJS.Signals) => {
    if (started) {
      options.logger?.warn({ signal }, "already shutting down");
      return;
    }
    started = true;
    options.logger?.info({ signal }, "shutting down");
    const timer = setTimeout(() => {
      options.logger?.error({ timeoutMs }, "graceful shutdown timed out; exiting");
      exit(1);
    }, timeoutMs);
    timer.unref();
    Promise.resolve()
      .then(() => fn(signal))
      .then(
        () => {
          clearTimeout(timer);
          options.logger?.info("stopped");
          exit(0);
        },
        (error: unknown) => {
          clearTimeout(timer);
          options.logger?.error({ err: error }, "shutdown failed");
          exit(1);
        },
      );
  };
  for (const signal of signals) process.on(signal, handler);
  return () => {
    for (const signal of signals) process.off(signal, handler);
  };
}
