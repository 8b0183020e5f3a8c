import { randomBytes, randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Accepted, metricsText, metricValue, type Stack, startStack } from "../query-service/stack.js";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "./otlp-receiver.js";

// OpenTelemetry across the pipeline (issue 16): the five services as processes export by OTLP/HTTP (JSON) to an
// in-process receiver; one command with a caller's `traceparent` must leave spans from every process in the
// caller's trace, hung below each other as the work flowed (gRPC handler → append → relay publish → projections;
// the query's own call in the same trace).

let receiver: OtlpReceiver;
let stack: Stack;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  stack = await startStack({
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      // Export within 100 ms rather than the default 5 s.
      OTEL_BSP_SCHEDULE_DELAY: "100",
    },
    queryEnv: { QUERY_MAX_WAIT_MS: "20000" },
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
}, 60_000);

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

async function spansOf(traceId: string, until: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const spans = receiver.spans.filter((span) => span.traceId === traceId);
    if (until(spans) || Date.now() > deadline) return spans;
    await sleep(100);
  }
}

const services = ["command-service", "outbox-relay", "projector-postgres", "projector-redis", "query-service"];

describe("traces", () => {
  it("one command with a traceparent → spans from all five processes in the caller's trace, parented as the work flowed", async () => {
    const traceId = hex(16);
    const callerSpanId = hex(8);
    const traceparent = `00-${traceId}-${callerSpanId}-01`;
    // The query first, asking for the position the command will get (nothing is committed in this namespace yet): it
    // waits, so its trace holds a "wait for position" span too.
    const orderId = randomUUID();
    const query = stack.queries.unary<{ summary: { order_id: string } }>(
      "GetOrderSummary",
      { order_id: orderId, min_position: "1" },
      { headers: { traceparent: `00-${traceId}-${hex(8)}-01` } },
    );
    const waiting = Date.now() + 10_000;
    while (metricValue(await metricsText(stack, "query-service"), "query_waiters") < 1 && Date.now() < waiting) {
      await sleep(50);
    }
    const { accepted } = await stack.commands.unary<{ accepted: Accepted }>(
      "CreateOrder",
      {
        idempotency_key: randomUUID(),
        order_id: orderId,
        customer_id: `trace-${randomUUID()}`,
        currency: "EUR",
        items: [{ sku: "SKU-1", quantity: 1, unit_price_minor: "500" }],
      },
      { headers: { traceparent } },
    );
    expect(accepted.position).toBe("1");
    expect((await query).summary.order_id).toBe(orderId);

    const spans = await spansOf(
      traceId,
      (found) =>
        services.every((service) => found.some((span) => span.service === service)) &&
        found.some((span) => span.name === "wait for position"),
    );
    const byService = (service: string) => spans.filter((span) => span.service === service);
    expect(new Set(spans.map((span) => span.service))).toEqual(new Set(services));

    // command-service: the SERVER span is the caller's child; the append below it; the group commit too.
    const handler = byService("command-service").find(
      (span) => span.name === "orderly.orders.v1.CommandService/CreateOrder",
    );
    expect(handler).toMatchObject({ parentSpanId: callerSpanId, kind: 2 });
    const append = byService("command-service").find((span) => span.name === "event store append");
    expect(append).toMatchObject({ parentSpanId: handler?.spanId });
    expect(Number(append?.attributes["orderly.position"])).toBe(Number(accepted.position));
    expect(byService("command-service").some((span) => span.name === "event store group commit")).toBe(true);

    // The events carry the handler's span: the relay's publish and each projector's apply hang below it.
    const publish = byService("outbox-relay");
    expect(publish.length).toBeGreaterThan(0);
    for (const span of publish) expect(span).toMatchObject({ parentSpanId: handler?.spanId, kind: 4 });
    for (const projector of ["projector-postgres", "projector-redis"]) {
      const applied = byService(projector);
      expect(applied.length).toBeGreaterThan(0);
      for (const span of applied) {
        expect(span).toMatchObject({ parentSpanId: handler?.spanId, kind: 5 });
        expect(span.name).toMatch(/ apply$/);
      }
    }

    // query-service: its call's SERVER span in the same trace, and the wait for the position below it.
    const queried = byService("query-service").find(
      (span) => span.name === "orderly.orders.v1.QueryService/GetOrderSummary",
    );
    expect(queried).toMatchObject({ kind: 2 });
    const waited = byService("query-service").find((span) => span.name === "wait for position");
    expect(waited).toMatchObject({ parentSpanId: queried?.spanId });
    expect(waited?.attributes).toMatchObject({
      "orderly.read_model": "order_summaries",
      "orderly.wait.outcome": "reached",
    });
    expect(receiver.rejected).toBe(0);
    // `node scripts/trace-svg.mjs` runs this test with ORDERLY_TRACE_SPANS_FILE set and draws the README's picture
    // (docs/img/trace.svg) from the spans this one command left.
    const spansFile = process.env.ORDERLY_TRACE_SPANS_FILE;
    if (spansFile) await writeFile(spansFile, `${JSON.stringify(spans, null, 2)}\n`);
  }, 60_000);

  it("a command without a traceparent starts a trace of its own that still reaches the projectors", async () => {
    const before = receiver.spans.length;
    await stack.commands.unary("CreateOrder", {
      idempotency_key: randomUUID(),
      customer_id: `trace-${randomUUID()}`,
      currency: "EUR",
      items: [{ sku: "SKU-1", quantity: 1, unit_price_minor: "500" }],
    });
    const deadline = Date.now() + 20_000;
    let handler: ReceivedSpan | undefined;
    while (handler === undefined && Date.now() < deadline) {
      handler = receiver.spans
        .slice(before)
        .find((span) => span.name === "orderly.orders.v1.CommandService/CreateOrder" && span.parentSpanId === "");
      if (handler === undefined) await sleep(100);
    }
    expect(handler).toBeDefined();
    const traceId = handler?.traceId as string;
    const spans = await spansOf(traceId, (found) =>
      ["outbox-relay", "projector-postgres", "projector-redis"].every((s) => found.some((span) => span.service === s)),
    );
    expect(new Set(spans.map((span) => span.service))).toEqual(
      new Set(["command-service", "outbox-relay", "projector-postgres", "projector-redis"]),
    );
  }, 60_000);
});
