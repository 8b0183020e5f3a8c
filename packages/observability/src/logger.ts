import pino, { type Logger, type LoggerOptions } from "pino";
import pretty from "pino-pretty";

export type { Logger } from "pino";

const levels = new Set(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);

export interface CreateLoggerOptions {
  /** Default info. */
  readonly level?: string;
  /** `pretty` or `json`; default: pretty when stdout is a TTY. */
  readonly format?: "pretty" | "json";
  /** Colour pretty output; default: when stdout is a TTY. */
  readonly colour?: boolean;
  /** Where JSON lines go (tests); default stdout. */
  readonly destination?: NodeJS.WritableStream;
}

/** The logging part of a process's configuration (LOG_LEVEL, LOG_FORMAT, NO_COLOR, FORCE_COLOR), read by its main. */
export function readLogConfig(env: Record<string, string | undefined>): CreateLoggerOptions {
  const format = env.LOG_FORMAT;
  if (format !== undefined && format !== "" && format !== "pretty" && format !== "json") {
    throw new Error(`LOG_FORMAT=${JSON.stringify(format)} is not a log format (use pretty or json)`);
  }
  return {
    level: env.LOG_LEVEL ?? "info",
    ...(format === "pretty" || format === "json" ? { format } : {}),
    ...(env.NO_COLOR !== undefined ? { colour: false } : env.FORCE_COLOR !== undefined ? { colour: true } : {}),
  };
}

/**
 * A pino logger named after the process or component. JSON lines by default (what a log shipper wants); pretty and
 * coloured when a person is watching (stdout is a TTY, or LOG_FORMAT=pretty, which `pnpm start` sets for its children
 * when it runs in a terminal). A process's main passes `readLogConfig(process.env)`.
 */
export function createLogger(name: string, options: CreateLoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  if (!levels.has(level)) {
    throw new Error(`LOG_LEVEL=${JSON.stringify(level)} is not a log level (use one of ${[...levels].join(", ")})`);
  }
  const format = options.format ?? (process.stdout.isTTY ? "pretty" : "json");
  const base: LoggerOptions = { name, level };
  if (format === "pretty") {
    // In-process and synchronous (not a worker transport), so the last lines before an exit are never lost.
    const stream = pretty({
      colorize: options.colour ?? Boolean(process.stdout.isTTY),
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
