import type { DescMethod } from "@bufbuild/protobuf";
import { status as Status } from "@grpc/grpc-js";
import { ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import type { GrpcCallContext, ServerCall } from "./call-context.js";
import { statusName } from "./status.js";

/**
 * The call's SERVER span, a child of the caller's `traceparent`, its own traceparent put on the call's context;
 * undefined when tracing is off. Passed explicitly, not through an async context: AsyncLocalStorage would tax every
 * promise of the process, sampled or not.
 */
export function startCallSpan(
  tracer: Tracer | undefined,
  method: DescMethod,
  call: ServerCall,
  ctx: GrpcCallContext,
): Span | undefined {
  if (tracer === undefined) return undefined;
  const header = call.metadata.get("traceparent")[0];
  const parent = typeof header === "string" ? parentContext(header) : ROOT_CONTEXT;
  const span = tracer.startSpan(
    `${method.parent.typeName}/${method.name}`,
    {
      kind: SpanKind.SERVER,
      attributes: { "rpc.system": "grpc", "rpc.service": method.parent.typeName, "rpc.method": method.name },
    },
    parent,
  );
  const { traceId, spanId, traceFlags } = span.spanContext();
  ctx.traceparent = `00-${traceId}-${spanId}-${traceFlags & 1 ? "01" : "00"}`;
  return span;
}

const traceparentFormat = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The context of a W3C `traceparent` header, or the root context when it is malformed (a new trace then). */
function parentContext(traceparent: string): typeof ROOT_CONTEXT {
  const match = traceparentFormat.exec(traceparent);
  if (match === null || match[1] === "ff") return ROOT_CONTEXT;
  const spanContext = {
    traceId: match[2] as string,
    spanId: match[3] as string,
    traceFlags: Number.parseInt(match[4] as string, 16) & 1,
    isRemote: true,
  };
  return trace.isSpanContextValid(spanContext) ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : ROOT_CONTEXT;
}

export function endSpan(span: Span, code: Status): void {
  span.setAttribute("rpc.grpc.status_code", code);
  if (code !== Status.OK) span.setStatus({ code: SpanStatusCode.ERROR, message: statusName(code) });
  span.end();
}
