import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { WaitForPositionRequestSchema } from "@orderly/contracts";
import { describe, expect, it } from "vitest";
import { collect, eventually, seen, serveCommandsAndQueries } from "./server.fixture.js";

// Server streams: async generators, encoded batches, backpressure, cancellation.
describe("GrpcServer", () => {
  const served = serveCommandsAndQueries();

  it("streams from an async generator and ends the call when it returns", async () => {
    const result = await collect(
      (
        served.queries.waitForPosition as (
          r: unknown,
        ) => grpc.ClientReadableStream<{ readModels: { position: bigint }[] }>
      )(create(WaitForPositionRequestSchema, { minPosition: 3n })),
    );
    expect(result.error).toBeUndefined();
    expect(result.messages.map((m) => m.readModels[0]?.position)).toEqual([1n, 2n, 3n]);
  });

  it("writes every message of an EncodedBatch, in order, and counts each as sent", async () => {
    const result = await collect(
      (
        served.queries.waitForPosition as (
          r: unknown,
        ) => grpc.ClientReadableStream<{ readModels: { position: bigint }[] }>
      )(create(WaitForPositionRequestSchema, { minPosition: -3n })),
    );
    expect(result.error).toBeUndefined();
    expect(result.messages.map((m) => m.readModels[0]?.position)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
  });

  it("stops pulling from the generator when the client does not read (backpressure)", async () => {
    seen.produced = 0;
    const finallyBefore = seen.streamFinally;
    const stream = (served.queries.waitForPosition as (r: unknown) => grpc.ClientReadableStream<unknown>)({
      minPosition: -1n,
    });
    let received = 0;
    stream.on("data", () => {
      received++;
      stream.pause();
    });
    stream.on("error", () => {});
    await eventually(() => received > 0, "the first message");
    // Each message is ~10 kB; an unbounded producer would run on forever. Wait for it to stop: no new message for
    // a whole second (the sampler shares the event loop with the producer, so a busy machine slows both).
    let last = -1;
    let stableSamples = 0;
    await eventually(
      () => {
        stableSamples = seen.produced === last ? stableSamples + 1 : 0;
        last = seen.produced;
        return stableSamples >= 10;
      },
      "the producer to stop",
      60_000,
      100,
    );
    expect(seen.produced).toBeLessThan(500);
    // And it stays stopped while the client does not read.
    const stoppedAt = seen.produced;
    await sleep(1_000);
    expect(seen.produced).toBe(stoppedAt);
    stream.cancel();
    await eventually(() => seen.streamFinally > finallyBefore, "the generator's finally block");
  });

  it("ends the generator when the client cancels a stream, and records CANCELLED", async () => {
    const finallyBefore = seen.streamFinally;
    seen.contexts.length = 0;
    const stream = (served.queries.waitForPosition as (r: unknown) => grpc.ClientReadableStream<unknown>)({
      minPosition: -2n,
    });
    const result = collect(stream);
    await eventually(() => seen.contexts[0], "the handler to start");
    stream.cancel();
    expect((await result).error?.code).toBe(grpc.status.CANCELLED);
    await eventually(() => seen.streamFinally > finallyBefore, "the generator's finally block");
    await eventually(
      async () =>
        (await served.registry.getSingleMetricAsString("grpc_server_handled_total")).includes('grpc_code="CANCELLED"'),
      "the metric",
    );
    const handled = await served.registry.getSingleMetricAsString("grpc_server_handled_total");
    expect(handled).toMatch(
      /grpc_server_handled_total\{grpc_service="orderly\.orders\.v1\.QueryService",grpc_method="WaitForPosition",grpc_type="server_stream",grpc_code="CANCELLED"\} [1-9]/,
    );
  });
});
