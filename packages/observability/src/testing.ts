// Test helpers for the packages that read configuration (`@orderly/observability/testing`).
import { ConfigError } from "./config.js";

/** The ConfigError that `read` throws; throws itself when `read` throws anything else or returns. */
export function configErrorOf(read: () => unknown): ConfigError {
  try {
    read();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError, but the configuration was read");
}
