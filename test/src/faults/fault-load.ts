import { DEFAULT_MIX_TEXT, makeMix, parseMixWeights, type Report, runLoad } from "@orderly/loadtest";
import { loadtestSecurity } from "../secure-mode.js";
import type { CommandLog } from "./checker.js";

export interface FaultLoadOptions {
  /** The command service's port on 127.0.0.1. */
  readonly port: number;
  /** Open-loop arrival rate (commands/s). */
  readonly rate: number;
  readonly seed: number;
  /** The load runs until this aborts. */
  readonly signal: AbortSignal;
  /** Collects every outcome, for the checker. */
  readonly log: CommandLog;
  /** A call without an answer by then is "unknown". */
  readonly timeoutMs: number;
  readonly maxInFlight?: number;
}

/**
 * The fault suites' load: open loop until `signal`, the generator's default command mix over 200 customers, every
 * outcome into `log` (and over mTLS with a token in secure mode).
 */
export function faultLoad(options: FaultLoadOptions): Promise<Report> {
  return runLoad({
    address: `127.0.0.1:${options.port}`,
    mode: "open",
    rate: options.rate,
    durationMs: 3_600_000,
    signal: options.signal,
    timeoutMs: options.timeoutMs,
    maxInFlight: options.maxInFlight ?? 1000,
    connections: 1,
    mix: makeMix(parseMixWeights(DEFAULT_MIX_TEXT), 0.02, 0.01),
    rywRate: 0,
    seed: options.seed,
    customers: 200,
    lateThresholdMs: 50,
    slo: [],
    onReply: options.log.record,
    ...loadtestSecurity(),
  });
}
