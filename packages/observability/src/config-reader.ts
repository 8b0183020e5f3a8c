import { ConfigError, problemCollector, readInteger, readPort, readStackConfig, type StackConfig } from "./config.js";
import { readStartupTimeoutMs } from "./startup.js";

type Env = Record<string, string | undefined>;

/**
 * A service's configuration reader: each read records what is wrong (in the order read) and returns its fallback, so
 * that `check()` throws one ConfigError naming every bad variable at once.
 */
export class ConfigReader {
  readonly problems: string[] = [];
  /** `collect(read, fallback)`: `read`'s value, or `fallback` with its ConfigError's problems recorded. */
  readonly collect = problemCollector(this.problems);

  constructor(private readonly env: Env) {}

  /** The stack's configuration (readStackConfig), or undefined when it has problems. */
  stack(): StackConfig | undefined {
    return this.collect(() => readStackConfig(this.env), undefined);
  }

  /** A whole number within `min`–`max` (readInteger), or `fallback` when unset or wrong. */
  integer(name: string, fallback: number, min: number, max: number): number {
    return readInteger(this.env, name, fallback, min, max, this.problems);
  }

  /** A TCP port (readPort), or `fallback` when unset or wrong. */
  port(name: string, fallback: number): number {
    return this.collect(() => readPort(this.env, name, fallback), fallback);
  }

  /** ORDERLY_STARTUP_TIMEOUT_MS (readStartupTimeoutMs). */
  startupTimeoutMs(): number {
    return this.collect(() => readStartupTimeoutMs(this.env), 0);
  }

  /** Throws the ConfigError naming every problem recorded so far. */
  check(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}
