import pino, { type Logger, type LoggerOptions } from "pino";
import pretty from "pino-pretty";

export type { Logger } from "pino";

const levels = new Set(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);

export interface CreateLoggerOptions {
  /** Overrides LOG_LEVEL. */
  readonly level?: string;
  /** `pretty` or `json`; default: LOG_FORMAT, else pretty when stdout is a TTY. */
  readonly format?: "pretty" | "json";
  /** Where JSON lines go (tests); default stdout. */
  readonly destination?: NodeJS.WritableStream;
}

/**
 * A pino logger named after the process or component. JSON lines by default (what a log shipper wants); pretty and
 * coloured when a person is watching (stdout is a TTY, or LOG_FORMAT=pretty, which `pnpm start` sets for its children
 * when it runs in a terminal). Level from LOG_LEVEL (default info).
 */
export function createLogger(name: string, options: CreateLoggerOptions = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? "info";
  if (!levels.has(level)) {
    throw new Error(`LOG_LEVEL=${JSON.stringify(level)} is not a log level (use one of ${[...levels].join(", ")})`);
  }
  const format = options.format ?? envFormat() ?? (process.stdout.isTTY ? "pretty" : "json");
  const base: LoggerOptions = { name, level };
  if (format === "pretty") {
    // In-process and synchronous (not a worker transport), so the last lines before an exit are never lost.
    const stream = pretty({
      colorize: process.env.NO_COLOR === undefined && (process.stdout.isTTY || process.env.FORCE_COLOR !== undefined),
      sync: true,
      translateTime: "SYS:HH:MM:ss.l",
      ignore: "pid,hostname",
      singleLine: true,
      destination: options.destination ?? 1,
    });
    return pino(base, stream);
  }
  return options.destination ? pino(base, options.destination) : pino(base);
}

function envFormat(): "pretty" | "json" | undefined {
  const value = process.env.LOG_FORMAT;
  if (value === undefined || value === "") return undefined;
  if (value === "pretty" || value === "json") return value;
  throw new Error(`LOG_FORMAT=${JSON.stringify(value)} is not a log format (use pretty or json)`);
}
