import { PaymentStatus } from "@orderly/contracts";
import {
  type AppendRequest,
  type CommandOutcome,
  InMemoryEventStore,
  VersionConflictError,
} from "@orderly/eventsourcing";
import { describe, expect, it } from "vitest";
import { CommandPipeline } from "./command-pipeline.js";
import { describeCommandPipeline } from "./test-pipeline-suite.js";
import { createOrderRequest, paymentRequest } from "./test-requests.js";
import { toCreateOrder, toUpdatePaymentStatus } from "./to-command.js";

describeCommandPipeline("the in-memory store", async () => ({
  store: new InMemoryEventStore(),
  close: async () => {},
}));

/** A store that loses every version race a few times: another writer always gets there first. */
class RacingStore extends InMemoryEventStore {
  conflicts: number;
  appends = 0;
  constructor(conflicts: number) {
    super();
    this.conflicts = conflicts;
  }
  override async append<E extends import("@orderly/eventsourcing").Event>(
    request: AppendRequest<E>,
  ): Promise<CommandOutcome> {
    this.appends++;
    if (request.expectedVersion !== "no_stream" && this.conflicts > 0) {
      this.conflicts--;
      throw new VersionConflictError(request.streamId, request.expectedVersion, 99);
    }
    return super.append(request);
  }
}

describe("CommandPipeline retries", () => {
  const call = { headers: {} };

  it("retries a lost version race on a fresh read, bounded", async () => {
    const store = new RacingStore(4);
    const pipeline = new CommandPipeline(store, { retryBaseMs: 0 });
    const created = await pipeline.execute(toCreateOrder(createOrderRequest(), call));
    const orderId = created.streamId.slice("order-".length);
    const outcome = await pipeline.execute(toUpdatePaymentStatus(paymentRequest(orderId, PaymentStatus.PAID), call));
    expect(outcome.streamVersion).toBe(2);
    expect(pipeline.retries).toBe(4);
  });

  it("gives up with ABORTED after maxAttempts", async () => {
    const store = new RacingStore(1000);
    const pipeline = new CommandPipeline(store, { retryBaseMs: 0, maxAttempts: 5 });
    const created = await pipeline.execute(toCreateOrder(createOrderRequest(), call));
    const orderId = created.streamId.slice("order-".length);
    store.appends = 0;
    await expect(
      pipeline.execute(toUpdatePaymentStatus(paymentRequest(orderId, PaymentStatus.PAID), call)),
    ).rejects.toBeInstanceOf(VersionConflictError);
    expect(store.appends).toBe(5);
  });

  it("does not retry when the client gave expected_version", async () => {
    const store = new RacingStore(1);
    const pipeline = new CommandPipeline(store, { retryBaseMs: 0 });
    const created = await pipeline.execute(toCreateOrder(createOrderRequest(), call));
    const orderId = created.streamId.slice("order-".length);
    const request = paymentRequest(orderId, PaymentStatus.PAID, { expectedVersion: 1n });
    await expect(pipeline.execute(toUpdatePaymentStatus(request, call))).rejects.toBeInstanceOf(VersionConflictError);
    expect(pipeline.retries).toBe(0);
  });
});

describe("CommandPipeline and cancelled calls", () => {
  it("does not start a queued command whose caller gave up, and runs the next one", async () => {
    const store = new InMemoryEventStore();
    const pipeline = new CommandPipeline(store);
    const call = { headers: {} };
    const created = await pipeline.execute(toCreateOrder(createOrderRequest(), call));
    const orderId = created.streamId.slice("order-".length);
    const controller = new AbortController();
    const first = pipeline.execute(toUpdatePaymentStatus(paymentRequest(orderId, PaymentStatus.AUTHORIZED), call));
    const abandoned = pipeline.execute(
      toUpdatePaymentStatus(paymentRequest(orderId, PaymentStatus.FAILED), call),
      controller.signal,
    );
    controller.abort(new Error("deadline exceeded"));
    const third = pipeline.execute(toUpdatePaymentStatus(paymentRequest(orderId, PaymentStatus.PAID), call));
    expect((await first).streamVersion).toBe(2);
    await expect(abandoned).rejects.toThrow("deadline exceeded");
    expect((await third).streamVersion).toBe(3);
    const stream = await store.readStream(created.streamId);
    expect(stream.events.map((e) => e.type)).toEqual(["OrderPlaced", "PaymentAuthorized", "PaymentReceived"]);
  });
});
