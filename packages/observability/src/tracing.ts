import {
  type Attributes,
  type Context,
  type Link,
  ROOT_CONTEXT,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { OTLPTraceExporter as OtlpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OtlpProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ConfigError } from "./config.js";

// OpenTelemetry tracing, in one place (issue 16). Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: then `tracer` is undefined, nothing is registered, and every caller skips
// its span work behind one `undefined` check. On: a NodeTracerProvider exporting by OTLP/HTTP in batches, its spans
// parented explicitly from W3C traceparents (the call's, the event's) rather than through an async context; the standard OTEL_* variables (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER[_ARG], OTEL_BSP_*, OTEL_EXPORTER_OTLP_[TRACES_]{ENDPOINT,HEADERS,PROTOCOL,TIMEOUT}) apply.

export interface Tracing {
  /** The tracer to hand to the adapters; undefined when tracing is off. */
  readonly tracer: Tracer | undefined;
  /** Flushes the spans still queued and stops exporting (call on shutdown). */
  shutdown(): Promise<void>;
}

export type OtlpProtocol = "http/protobuf" | "http/json";

export interface TracingConfig {
  readonly serviceName: string;
  readonly protocol: OtlpProtocol;
}

/** The tracing settings from the standard OTEL_* variables, or undefined when tracing is off. */
export function readTracingConfig(
  env: Readonly<Record<string, string | undefined>>,
  defaultServiceName: string,
): TracingConfig | undefined {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint) return undefined;
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return undefined;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
  if (exporter === "none") return undefined;
  if (exporter !== undefined && exporter !== "" && exporter !== "otlp") {
    throw new ConfigError([`OTEL_TRACES_EXPORTER=${exporter} is not supported: use otlp or none`]);
  }
  const protocol = (
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ||
    env.OTEL_EXPORTER_OTLP_PROTOCOL ||
    "http/protobuf"
  ).trim();
  if (protocol !== "http/protobuf" && protocol !== "http/json") {
    throw new ConfigError([
      `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported: use http/protobuf (default) or http/json, to the collector's OTLP/HTTP port (4318)`,
    ]);
  }
  return { serviceName: env.OTEL_SERVICE_NAME?.trim() || defaultServiceName, protocol };
}

/**
 * Starts tracing for a service when the environment asks for it (see readTracingConfig); a no-op otherwise. Call
 * once, first thing in `main`.
 */
export function startTracing(
  defaultServiceName: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Tracing {
  const config = readTracingConfig(env, defaultServiceName);
  if (config === undefined) return { tracer: undefined, shutdown: async () => {} };
  // The exporters read the endpoint, headers and timeout from the OTEL_EXPORTER_OTLP_* variables themselves.
  const exporter = config.protocol === "http/json" ? new OtlpJsonExporter() : new OtlpProtoExporter();
  const provider = new NodeTracerProvider({
    // OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME (the env detector reads both) over the process's own name.
    resource: resourceFromAttributes({ "service.name": config.serviceName }).merge(
      detectResources({ detectors: [envDetector] }),
    ),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  // Not registered globally: no AsyncLocalStorage context manager (it would tax every promise of the process, traced
  // or not). Spans are parented explicitly, from the call's or the event's traceparent.
  return {
    tracer: provider.getTracer("orderly"),
    shutdown: () => provider.shutdown().catch(() => {}),
  };
}

const traceparentFormat = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The span context a W3C `traceparent` names, or undefined when it is missing or malformed. */
export function spanContextOf(traceparent: string | null | undefined): SpanContext | undefined {
  if (!traceparent) return undefined;
  const match = traceparentFormat.exec(traceparent);
  if (match === null || match[1] === "ff") return undefined;
  const spanContext: SpanContext = {
    traceId: match[2] as string,
    spanId: match[3] as string,
    traceFlags: Number.parseInt(match[4] as string, 16) & 1,
    isRemote: true,
  };
  return trace.isSpanContextValid(spanContext) ? spanContext : undefined;
}

/** A context whose parent is the `traceparent`'s span (the root context when there is none). */
export function contextOf(traceparent: string | null | undefined): Context {
  const spanContext = spanContextOf(traceparent);
  return spanContext === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, spanContext);
}

/** The W3C `traceparent` of a span context. */
export function traceparentOf(spanContext: SpanContext): string {
  return `00-${spanContext.traceId}-${spanContext.spanId}-${spanContext.traceFlags & 1 ? "01" : "00"}`;
}

export interface RecordedSpan {
  readonly name: string;
  readonly kind?: SpanKind;
  /** Epoch milliseconds. */
  readonly startTime: number;
  /** Epoch milliseconds (default now). */
  readonly endTime?: number;
  readonly attributes?: Attributes;
  /** Set when the work failed: the span's status becomes ERROR with this message. */
  readonly error?: string | undefined;
}

/** Records a span that has already happened, as a child of `parent` (see contextOf). */
export function recordSpan(tracer: Tracer, span: RecordedSpan, parent: Context, links?: Link[]): void {
  const started = tracer.startSpan(
    span.name,
    {
      kind: span.kind ?? SpanKind.INTERNAL,
      startTime: span.startTime,
      ...(span.attributes ? { attributes: span.attributes } : {}),
      ...(links && links.length > 0 ? { links } : {}),
    },
    parent,
  );
  if (span.error !== undefined) started.setStatus({ code: SpanStatusCode.ERROR, message: span.error });
  started.end(span.endTime ?? Date.now());
}

/**
 * Work done in one batch for many commands (a relay publish, a projector's batch apply) shows in each command's
 * trace: one span per distinct `traceparent` in the batch, each a child of that traceparent's span and carrying the
 * count of its own events and of the batch. Events without a traceparent get no span. Returns the spans recorded.
 */
export function recordSpanPerTrace(
  tracer: Tracer,
  span: RecordedSpan,
  traceparents: Iterable<string | null | undefined>,
): number {
  const counts = new Map<string, number>();
  let batch = 0;
  for (const traceparent of traceparents) {
    batch++;
    if (traceparent) counts.set(traceparent, (counts.get(traceparent) ?? 0) + 1);
  }
  const endTime = span.endTime ?? Date.now();
  let recorded = 0;
  for (const [traceparent, events] of counts) {
    const spanContext = spanContextOf(traceparent);
    if (spanContext === undefined) continue;
    recordSpan(
      tracer,
      {
        ...span,
        endTime,
        attributes: { ...span.attributes, "orderly.batch.events": batch, "orderly.trace.events": events },
      },
      trace.setSpanContext(ROOT_CONTEXT, spanContext),
    );
    recorded++;
  }
  return recorded;
}

/** At most this many links on one span (a group commit of 256 commands links the first 128). */
export const MAX_LINKS = 128;

/**
 * Work shared by many traces that should appear once (a group commit): one span, a child of the first traceparent's
 * span, linked to the others' (up to MAX_LINKS).
 */
export function recordSharedSpan(
  tracer: Tracer,
  span: RecordedSpan,
  traceparents: Iterable<string | null | undefined>,
): void {
  let parent: SpanContext | undefined;
  const links: Link[] = [];
  const seen = new Set<string>();
  for (const traceparent of traceparents) {
    if (!traceparent || seen.has(traceparent)) continue;
    seen.add(traceparent);
    const spanContext = spanContextOf(traceparent);
    if (spanContext === undefined) continue;
    if (parent === undefined) parent = spanContext;
    else if (links.length < MAX_LINKS) links.push({ context: spanContext });
  }
  if (parent === undefined) return;
  recordSpan(tracer, span, trace.setSpanContext(ROOT_CONTEXT, parent), links);
}

export { SpanKind, type Tracer };
