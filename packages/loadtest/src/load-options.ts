import type { Mix } from "./mix.js";
import type { PlannedCall } from "./planner.js";
import type { ProgressState } from "./report-text.js";
import type { LoadSecurity } from "./security.js";
import type { SloCheck } from "./slo.js";
import type { AcceptedReply } from "./wire.js";

// What a load run is asked to do (\`runLoad\`'s options), and what it tells its caller of each call as it settles.

export interface LoadOptions {
  /** CommandService address, `host:port`. */
  readonly address: string;
  readonly mode: "open" | "closed";
  /** Open loop: calls per second. */
  readonly rate?: number;
  /** Closed loop: calls in flight, each sent as soon as the previous one answered. */
  readonly concurrency?: number;
  /** Exactly one of durationMs and count. */
  readonly durationMs?: number;
  readonly count?: number;
  /** Per-call timeout (0: none). */
  readonly timeoutMs: number;
  /**
   * Send the timeout as a gRPC deadline on every command (grpc-js arms a timer and a grpc-timeout header per call,
   * ~8–10 % of a call's client CPU). By default one sweep timer cancels command calls older than the timeout instead
   * (reported as DEADLINE_EXCEEDED); read-your-writes queries always carry the deadline (it bounds the server's wait).
   */
  readonly grpcDeadline?: boolean;
  /** Open loop: most calls in flight; the schedule waits (and counts late sends) beyond it. */
  readonly maxInFlight: number;
  /** HTTP/2 connections to spread calls over. */
  readonly connections: number;
  readonly mix: Mix;
  /** Share of accepted commands followed by a read-your-writes check. */
  readonly rywRate: number;
  /** QueryService address (required when rywRate > 0). */
  readonly queryAddress?: string;
  /**
   * TLS (CA, client certificate for mTLS, server name) and a bearer token asked per call, for both services; plaintext
   * without a token when absent. Only whether each part is on reaches the report, never a secret.
   */
  readonly security?: LoadSecurity;
  readonly seed: number;
  readonly customers: number;
  readonly lateThresholdMs: number;
  readonly slo: readonly SloCheck[];
  /** Called every `progressIntervalMs` while running. */
  readonly onProgress?: (progress: ProgressState) => void;
  readonly progressIntervalMs?: number;
  /** Stops issuing new calls (in-flight ones finish and are reported). */
  readonly signal?: AbortSignal;
  /**
   * Called with every command call's outcome as it settles (fault suites keep them to check each command against the
   * store). Off the hot path when absent.
   */
  readonly onReply?: (reply: CallOutcome) => void;
  readonly connectTimeoutMs?: number;
  /** For the report. */
  readonly command?: string;
  /** Services' Prometheus /metrics URLs to sample read-model lag from, once a second (`series.server_lag_s`). */
  readonly metricsUrls?: readonly string[];
}

/** One settled command call, as `LoadOptions.onReply` sees it. */
export interface CallOutcome {
  readonly call: PlannedCall;
  /** gRPC status code (0 = OK); the generator's own timeout reports DEADLINE_EXCEEDED. */
  readonly code: number;
  readonly details: string;
  readonly accepted: AcceptedReply | undefined;
  /** `performance.now()` when the call was sent (intended time in open loop) and when it settled. */
  readonly startedAt: number;
  readonly settledAt: number;
}
