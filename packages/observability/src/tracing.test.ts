import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-node";
import { describe, expect, it } from "vitest";
import { ConfigError } from "./config.js";
import {
  MAX_LINKS,
  readTracingConfig,
  recordSharedSpan,
  recordSpanPerTrace,
  spanContextOf,
  startTracing,
  traceparentOf,
} from "./tracing.js";

const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" };
const tp = (trace: string, span: string, flags = "01") =>
  `00-${trace.padStart(32, "0")}-${span.padStart(16, "0")}-${flags}`;

function inMemory() {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { exporter, tracer: provider.getTracer("test") };
}

describe("readTracingConfig", () => {
  it("is off without an endpoint, with OTEL_SDK_DISABLED=true and with OTEL_TRACES_EXPORTER=none", () => {
    expect(readTracingConfig({}, "svc")).toBeUndefined();
    expect(readTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "" }, "svc")).toBeUndefined();
    expect(readTracingConfig({ ...endpoint, OTEL_SDK_DISABLED: "true" }, "svc")).toBeUndefined();
    expect(readTracingConfig({ ...endpoint, OTEL_TRACES_EXPORTER: "none" }, "svc")).toBeUndefined();
    expect(startTracing("svc", {}).tracer).toBeUndefined();
  });

  it("is on with either endpoint variable: protobuf by default, JSON on request, the service name overridable", () => {
    expect(readTracingConfig(endpoint, "svc")).toEqual({ serviceName: "svc", protocol: "http/protobuf" });
    expect(
      readTracingConfig(
        { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://x:4318/v1/traces", OTEL_SERVICE_NAME: "a" },
        "svc",
      ),
    ).toEqual({ serviceName: "a", protocol: "http/protobuf" });
    expect(readTracingConfig({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }, "svc")?.protocol).toBe(
      "http/json",
    );
  });

  it("refuses what it cannot do, naming the variable", () => {
    expect(() => readTracingConfig({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, "svc")).toThrow(ConfigError);
    expect(() => readTracingConfig({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, "svc")).toThrow(
      /OTEL_EXPORTER_OTLP_PROTOCOL=grpc/,
    );
    expect(() => readTracingConfig({ ...endpoint, OTEL_TRACES_EXPORTER: "zipkin" }, "svc")).toThrow(
      /OTEL_TRACES_EXPORTER=zipkin/,
    );
  });
});

describe("traceparents", () => {
  it("parse and print round trip; malformed, all-zero and version ff are none", () => {
    const valid = tp("abc", "def");
    const context = spanContextOf(valid);
    expect(context).toMatchObject({ traceId: "abc".padStart(32, "0"), spanId: "def".padStart(16, "0"), traceFlags: 1 });
    expect(traceparentOf(context as NonNullable<typeof context>)).toBe(valid);
    expect(spanContextOf(tp("abc", "def", "00"))?.traceFlags).toBe(0);
    for (const bad of [undefined, null, "", "garbage", tp("0", "def"), tp("abc", "0"), `ff${valid.slice(2)}`]) {
      expect(spanContextOf(bad)).toBeUndefined();
    }
  });
});

describe("recordSpanPerTrace", () => {
  it("records one span per distinct trace, a child of its traceparent, with its own and the batch's counts", () => {
    const { exporter, tracer } = inMemory();
    const a = tp("a1", "a2");
    const b = tp("b1", "b2");
    const recorded = recordSpanPerTrace(tracer, { name: "apply", startTime: Date.now() - 5 }, [a, null, b, a, "bad"]);
    expect(recorded).toBe(2);
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.spanContext().traceId).sort()).toEqual(["a1".padStart(32, "0"), "b1".padStart(32, "0")]);
    const spanA = spans.find((s) => s.spanContext().traceId === "a1".padStart(32, "0"));
    expect(spanA?.parentSpanContext?.spanId).toBe("a2".padStart(16, "0"));
    expect(spanA?.attributes).toMatchObject({ "orderly.batch.events": 5, "orderly.trace.events": 2 });
  });

  it("records nothing for a batch without traceparents", () => {
    const { exporter, tracer } = inMemory();
    expect(recordSpanPerTrace(tracer, { name: "apply", startTime: Date.now() }, [null, undefined, ""])).toBe(0);
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });
});

describe("recordSharedSpan", () => {
  it("is a child of the first trace and links the others, at most MAX_LINKS", () => {
    const { exporter, tracer } = inMemory();
    const traceparents = Array.from({ length: MAX_LINKS + 10 }, (_, i) => tp(`${i + 1}`, `${i + 1}`));
    recordSharedSpan(tracer, { name: "group commit", startTime: Date.now() }, [undefined, ...traceparents]);
    const [span] = exporter.getFinishedSpans();
    expect(span?.spanContext().traceId).toBe("1".padStart(32, "0"));
    expect(span?.parentSpanContext?.spanId).toBe("1".padStart(16, "0"));
    expect(span?.links).toHaveLength(MAX_LINKS);
    expect(span?.links[0]?.context.traceId).toBe("2".padStart(32, "0"));
  });
});
