import type { DescMethod } from "@bufbuild/protobuf";
import { Metadata, type status as Status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { UndecodableRequest } from "./binding.js";
import type { GrpcCallContext } from "./call-context.js";
import type { GrpcMetrics } from "./metrics.js";
import { RateLimitedError } from "./rate-limit.js";
import { statusName, toGrpcStatus } from "./status.js";

// How a call ends, as the server records it: its status (a server fault logged with its stack), and its metrics.

/** The status for a failed call; logs server faults with their stack. */
export function callFailure(
  error: unknown,
  ctx: GrpcCallContext,
  logger: Logger,
): { code: Status; details: string; metadata?: Metadata } {
  const aborted = ctx.abortReason();
  if (aborted !== undefined) return { code: aborted.status, details: aborted.message };
  const mapped = toGrpcStatus(error);
  if (mapped.internal) {
    logger.error({ err: error, method: ctx.method, caller: ctx.principal?.subject }, "handler failed");
    return { code: mapped.code, details: mapped.details };
  }
  logger.debug(
    { method: ctx.method, caller: ctx.principal?.subject, code: statusName(mapped.code), msg: mapped.details },
    "call rejected",
  );
  const metadata = new Metadata();
  if (mapped.errorCode) metadata.set("orderly-error-code", mapped.errorCode);
  if (error instanceof RateLimitedError) metadata.set("retry-after-ms", String(error.retryAfterMs));
  return { code: mapped.code, details: mapped.details, metadata };
}

/** Counts a call as started and in flight; the function returned records how it ended and how long it took. */
export function trackCall(
  metrics: GrpcMetrics,
  method: DescMethod,
  type: "unary" | "server_stream",
): (code: Status) => void {
  const labels = { grpc_service: method.parent.typeName, grpc_method: method.name, grpc_type: type };
  const started = process.hrtime.bigint();
  metrics.started.inc(labels);
  metrics.inFlight.inc(labels);
  return (code) => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const withCode = { ...labels, grpc_code: statusName(code) };
    metrics.inFlight.dec(labels);
    metrics.handled.inc(withCode);
    metrics.handling.observe(withCode, seconds);
  };
}

export function undecodable(request: UndecodableRequest): string {
  return `request is not a valid ${request.typeName}: ${request.reason}`;
}
