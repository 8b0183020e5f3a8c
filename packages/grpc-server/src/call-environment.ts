import type { Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { JwtAuthenticator } from "./auth.js";
import type { GrpcCallContext } from "./call-context.js";
import type { GrpcMetrics } from "./metrics.js";
import type { CallerRateLimiter, StreamCounter } from "./rate-limit.js";

/** What every call of one server shares: made once by GrpcServer, read by its unary and server-stream calls. */
export interface CallEnvironment {
  readonly logger: Logger;
  readonly metrics: GrpcMetrics;
  /** Undefined: tracing off, no span work at all. */
  readonly tracer: Tracer | undefined;
  /** The server's cap on a unary call's deadline. */
  readonly maxDeadlineMs: number;
  /** Undefined: auth off. */
  readonly auth: JwtAuthenticator | undefined;
  readonly limiter: CallerRateLimiter | undefined;
  readonly openStreams: StreamCounter | undefined;
  /** The server streams open now (shutdown tells them UNAVAILABLE). */
  readonly streams: Set<GrpcCallContext>;
}
