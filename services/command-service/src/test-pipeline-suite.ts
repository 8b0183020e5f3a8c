import { PaymentStatus } from "@orderly/contracts";
import {
  AlreadyExistsError,
  BusinessRuleError,
  type EventStore,
  IdempotencyKeyReusedError,
  NotFoundError,
  ValidationError,
  VersionConflictError,
} from "@orderly/eventsourcing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandPipeline } from "./command-pipeline.js";
import { cancelRequest, createOrderRequest, paymentRequest, shipRequest, total } from "./test-requests.js";
import { type CallContext, toCancelOrder, toCreateOrder, toShipOrder, toUpdatePaymentStatus } from "./to-command.js";

export interface StoreFixture {
  readonly store: EventStore;
  /** A second, independent handle on the same data (another process's view). */
  readonly otherStore?: EventStore;
  close(): Promise<void>;
}

const call: CallContext = { headers: {} };

/** The pipeline's behaviour, run against each EventStore implementation. */
export function describeCommandPipeline(name: string, open: () => Promise<StoreFixture>): void {
  describe(`CommandPipeline on ${name}`, () => {
    let fixture: StoreFixture;
    let store: EventStore;
    let pipeline: CommandPipeline;

    beforeAll(async () => {
      fixture = await open();
      store = fixture.store;
      pipeline = new CommandPipeline(store);
    });
    afterAll(async () => {
      await fixture?.close();
    });

    async function placeOrder(p = pipeline): Promise<string> {
      const outcome = await p.execute(toCreateOrder(createOrderRequest(), call));
      return outcome.streamId.slice("order-".length);
    }

    it("accepts CreateOrder: version 1, the event stored with the command's metadata", async () => {
      const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      const request = toCreateOrder(createOrderRequest(), {
        headers: { traceparent },
        principal: { subject: "svc-checkout" },
      });
      const outcome = await pipeline.execute(request);
      expect(outcome).toMatchObject({
        streamVersion: 1,
        duplicate: false,
        commandId: request.command.metadata.commandId,
      });
      const stream = await store.readStream(outcome.streamId);
      expect(stream.version).toBe(1);
      const [event] = stream.events;
      expect(event?.type).toBe("OrderPlaced");
      expect(event?.position).toBe(outcome.position);
      expect(event?.data).toMatchObject({ customerId: "customer-1", currency: "EUR", totalMinor: Number(total) });
      expect(event?.metadata).toMatchObject({
        commandId: outcome.commandId,
        correlationId: outcome.commandId,
        causationId: outcome.commandId,
        traceparent,
        actor: "svc-checkout",
      });
      expect(event?.metadata.occurredAt.getTime()).toBe(request.command.metadata.now.getTime());
    });

    it("answers a repeated CreateOrder (no order id given) with the stored result, duplicate = true", async () => {
      const request = createOrderRequest();
      const first = await pipeline.execute(toCreateOrder(request, call));
      const again = await pipeline.execute(toCreateOrder(request, call));
      expect(again).toEqual({ ...first, duplicate: true });
      expect((await store.readStream(first.streamId)).version).toBe(1);
    });

    it("answers a repeated CreateOrder with an order id with the stored result, not ALREADY_EXISTS", async () => {
      const request = createOrderRequest({ orderId: crypto.randomUUID() });
      const first = await pipeline.execute(toCreateOrder(request, call));
      const again = await pipeline.execute(toCreateOrder(request, call));
      expect(again).toEqual({ ...first, duplicate: true });
    });

    it("refuses a reused idempotency key with a different request (ALREADY_EXISTS)", async () => {
      const request = createOrderRequest();
      await pipeline.execute(toCreateOrder(request, call));
      const changed = createOrderRequest({ idempotencyKey: request.idempotencyKey, customerId: "someone-else" });
      await expect(pipeline.execute(toCreateOrder(changed, call))).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
      // Keys are global across commands.
      const orderId = await placeOrder();
      const ship = shipRequest(orderId, { idempotencyKey: request.idempotencyKey });
      await expect(pipeline.execute(toShipOrder(ship, call))).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
    });

    it("refuses CreateOrder for an order id that is taken (ALREADY_EXISTS)", async () => {
      const orderId = crypto.randomUUID();
      await pipeline.execute(toCreateOrder(createOrderRequest({ orderId }), call));
      const error = await pipeline.execute(toCreateOrder(createOrderRequest({ orderId }), call)).catch((e) => e);
      expect(error).toBeInstanceOf(AlreadyExistsError);
      expect(error).not.toBeInstanceOf(IdempotencyKeyReusedError);
    });

    it("refuses commands on a missing order (NOT_FOUND), also with an expected_version", async () => {
      const orderId = crypto.randomUUID();
      const withVersion = paymentRequest(orderId, PaymentStatus.PAID, { expectedVersion: 3n });
      await expect(pipeline.execute(toUpdatePaymentStatus(withVersion, call))).rejects.toBeInstanceOf(NotFoundError);
      await expect(pipeline.execute(toShipOrder(shipRequest(orderId), call))).rejects.toBeInstanceOf(NotFoundError);
      await expect(
        pipeline.execute(toUpdatePaymentStatus(paymentRequest(orderId, PaymentStatus.PAID), call)),
      ).rejects.toBeInstanceOf(NotFoundError);
      await expect(pipeline.execute(toCancelOrder(cancelRequest(orderId), call))).rejects.toBeInstanceOf(NotFoundError);
    });

    it("runs an order's life: paid, shipped; versions count up", async () => {
      const orderId = await placeOrder();
      const paid = await pipeline.execute(toUpdatePaymentStatus(paymentRequest(orderId, PaymentStatus.PAID), call));
      expect(paid.streamVersion).toBe(2);
      const shipped = await pipeline.execute(toShipOrder(shipRequest(orderId), call));
      expect(shipped.streamVersion).toBe(3);
      expect(shipped.position).toBeGreaterThan(paid.position);
      const stream = await store.readStream(`order-${orderId}`);
      expect(stream.events.map((e) => e.type)).toEqual(["OrderPlaced", "PaymentReceived", "OrderShipped"]);
    });

    it("answers a retried ShipOrder with the stored result, not FAILED_PRECONDITION", async () => {
      const orderId = await placeOrder();
      await pipeline.execute(toUpdatePaymentStatus(paymentRequest(orderId, PaymentStatus.PAID), call));
      const request = shipRequest(orderId);
      const first = await pipeline.execute(toShipOrder(request, call));
      const again = await pipeline.execute(toShipOrder(request, call));
      expect(again).toEqual({ ...first, duplicate: true });
      // A different key is a new command, refused by the rules.
      await expect(pipeline.execute(toShipOrder(shipRequest(orderId), call))).rejects.toBeInstanceOf(BusinessRuleError);
    });

    it("answers a retried command with expected_version with the stored result, not ABORTED", async () => {
      const orderId = await placeOrder();
      const request = paymentRequest(orderId, PaymentStatus.AUTHORIZED, { expectedVersion: 1n });
      const first = await pipeline.execute(toUpdatePaymentStatus(request, call));
      const again = await pipeline.execute(toUpdatePaymentStatus(request, call));
      expect(again).toEqual({ ...first, duplicate: true });
    });

    it("refuses an expected_version mismatch (ABORTED) and accepts the right one", async () => {
      const orderId = await placeOrder();
      const stale = paymentRequest(orderId, PaymentStatus.PAID, { expectedVersion: 2n });
      await expect(pipeline.execute(toUpdatePaymentStatus(stale, call))).rejects.toBeInstanceOf(VersionConflictError);
      const zero = paymentRequest(orderId, PaymentStatus.PAID, { expectedVersion: 0n });
      await expect(pipeline.execute(toUpdatePaymentStatus(zero, call))).rejects.toBeInstanceOf(VersionConflictError);
      const right = paymentRequest(orderId, PaymentStatus.PAID, { expectedVersion: 1n });
      expect((await pipeline.execute(toUpdatePaymentStatus(right, call))).streamVersion).toBe(2);
    });

    it("leaves no trace of a refused command: the client fixes it and retries with the same key", async () => {
      const orderId = await placeOrder();
      const wrong = paymentRequest(orderId, PaymentStatus.PAID, { amountMinor: 1n });
      await expect(pipeline.execute(toUpdatePaymentStatus(wrong, call))).rejects.toBeInstanceOf(BusinessRuleError);
      const fixed = paymentRequest(orderId, PaymentStatus.PAID, { idempotencyKey: wrong.idempotencyKey });
      const outcome = await pipeline.execute(toUpdatePaymentStatus(fixed, call));
      expect(outcome).toMatchObject({ streamVersion: 2, duplicate: false });
    });

    it("refuses invalid input before touching the store (INVALID_ARGUMENT)", async () => {
      const request = createOrderRequest({ currency: "eur" });
      const error = await pipeline.execute(toCreateOrder(request, call)).catch((e) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe("currency");
      expect(await store.findCommand(request.idempotencyKey)).toBeUndefined();
    });

    it("50 concurrent commands with the same expected_version: exactly one succeeds, 49 ABORTED", async () => {
      const orderId = await placeOrder();
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) =>
          pipeline.execute(
            toUpdatePaymentStatus(
              paymentRequest(orderId, i % 2 === 0 ? PaymentStatus.PAID : PaymentStatus.AUTHORIZED, {
                expectedVersion: 1n,
              }),
              call,
            ),
          ),
        ),
      );
      const accepted = results.filter((r) => r.status === "fulfilled");
      const aborted = results.filter((r) => r.status === "rejected" && r.reason instanceof VersionConflictError);
      expect(accepted).toHaveLength(1);
      expect(aborted).toHaveLength(49);
      expect((await store.readStream(`order-${orderId}`)).version).toBe(2);
    });

    it("serialises concurrent commands without expected_version: the rules see every earlier command", async () => {
      const orderId = await placeOrder();
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () =>
          pipeline.execute(toUpdatePaymentStatus(paymentRequest(orderId, PaymentStatus.PAID), call)),
        ),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const refused = results.filter((r) => r.status === "rejected");
      expect(refused).toHaveLength(19);
      for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(BusinessRuleError);
    });

    it("keeps many orders consistent under a concurrent mix", async () => {
      const orderIds = await Promise.all(Array.from({ length: 10 }, () => placeOrder()));
      const commands = orderIds.flatMap((orderId) => [
        () => pipeline.execute(toUpdatePaymentStatus(paymentRequest(orderId, PaymentStatus.AUTHORIZED), call)),
        () => pipeline.execute(toCancelOrder(cancelRequest(orderId), call)),
      ]);
      const results = await Promise.allSettled(commands.map((c) => c()));
      for (const orderId of orderIds) {
        const stream = await store.readStream(`order-${orderId}`);
        // Authorisation and cancellation both apply in either order (a cancelled order refuses the authorisation).
        expect(stream.events.map((e) => e.streamVersion)).toEqual(stream.events.map((_, i) => i + 1));
        expect(stream.events.at(-1)?.type === "OrderCancelled" || stream.events.length === 3).toBe(true);
      }
      expect(results.filter((r) => r.status === "fulfilled").length).toBeGreaterThanOrEqual(10);
    });

    it("recovers from a stale cache: another process changed the order", async () => {
      const other = new CommandPipeline(fixture.otherStore ?? store);
      const orderId = await placeOrder();
      // This pipeline now caches the order as placed; the other one pays it.
      await other.execute(toUpdatePaymentStatus(paymentRequest(orderId, PaymentStatus.PAID), call));
      // The cached state would refuse shipping: the refusal is re-checked against the store.
      const shipped = await pipeline.execute(toShipOrder(shipRequest(orderId), call));
      expect(shipped.streamVersion).toBe(3);
      // The other pipeline's cache (version 2) is stale now: its append conflicts and is retried on a fresh read.
      const cancelled = await other.execute(toCancelOrder(cancelRequest(orderId), call)).catch((e) => e);
      expect(cancelled).toBeInstanceOf(BusinessRuleError);
      const refund = paymentRequest(orderId, PaymentStatus.REFUNDED);
      expect((await other.execute(toUpdatePaymentStatus(refund, call))).streamVersion).toBe(4);
    });
  });
}
