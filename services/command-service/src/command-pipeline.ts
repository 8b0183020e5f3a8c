import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AlreadyExistsError,
  type CommandOutcome,
  type EventMetadata,
  type EventStore,
  type ExpectedVersion,
  type IdempotencyClaim,
  IdempotencyKeyReusedError,
  isDomainError,
  VersionConflictError,
} from "@orderly/eventsourcing";
import {
  decide,
  evolve,
  initialOrderState,
  type OrderEvent,
  type OrderState,
  orderExists,
  orderStreamId,
  validateCommand,
} from "@orderly/orders-domain";
import { backoffDelay } from "@orderly/retry";
import { KeyedSerializer } from "./keyed-serializer.js";
import { OrderCache } from "./order-cache.js";
import type { CommandRequest } from "./to-command.js";

export interface CommandPipelineOptions {
  /** Attempts of a command without `expected_version` that keeps losing version races (default 5). */
  readonly maxAttempts?: number;
  /** Orders whose decided state is kept in memory (default 10,000; 0 disables the cache). */
  readonly cacheSize?: number;
  /** Base of the jittered back-off between attempts, ms (default 2). */
  readonly retryBaseMs?: number;
}

/** What the pipeline asks of a call: whether its caller has given up, and why (an AbortSignal, a gRPC call context). */
export interface Abandonable {
  readonly aborted?: boolean | undefined;
  readonly reason?: unknown;
}

interface LoadedOrder {
  readonly state: OrderState;
  readonly version: number;
  /** Read from the store just now (not from the cache). */
  readonly fresh: boolean;
}

/**
 * request → validate → decide (on the stream's state) → append (events + idempotency record, one transaction) →
 * CommandOutcome. Never waits for a read model.
 *
 * Idempotency: a retry must get the stored result even when deciding again would refuse it (a retried ShipOrder
 * finds the order shipped). Looking the key up before every decision would cost a read per command, so the order
 * is: decide first; only when the command is refused (decider error, version mismatch, order id taken) look up the
 * key: same request → the stored outcome with duplicate = true, a different request → ALREADY_EXISTS, no record →
 * the refusal. When the decider accepts, the store's append checks the key atomically in the same transaction.
 *
 * Concurrency: commands on one stream are serialised inside this process; between processes the append's expected
 * version decides. With the client's `expected_version` a mismatch is final (ABORTED); without it the pipeline
 * re-reads and retries, bounded, with jitter.
 */
export class CommandPipeline {
  readonly #store: EventStore;
  readonly #cache: OrderCache;
  readonly #serializer = new KeyedSerializer();
  readonly #maxAttempts: number;
  readonly #retryBaseMs: number;
  /** Version races lost and retried (for metrics). */
  retries = 0;

  constructor(store: EventStore, options: CommandPipelineOptions = {}) {
    this.#store = store;
    this.#cache = new OrderCache(options.cacheSize ?? 10_000);
    this.#maxAttempts = options.maxAttempts ?? 5;
    this.#retryBaseMs = options.retryBaseMs ?? 2;
  }

  /**
   * Runs one command. `call` says whether its caller has given up (client cancel, deadline; an AbortSignal will do):
   * a command still queued behind others on its order when its caller has given up is not started — under overload,
   * work nobody waits for only adds to the queue. It fails with the signal's reason, if it has one. Once started, a
   * command runs to the end (its append may already be committed; a retry gets the stored result).
   */
  async execute(request: CommandRequest, call?: Abandonable): Promise<CommandOutcome> {
    validateCommand(request.command);
    const streamId = orderStreamId(request.command.data.orderId);
    return this.#serializer.run(streamId, () => {
      if (call?.aborted) throw call.reason ?? new Error("the caller gave up before the command started");
      return request.command.type === "CreateOrder" ? this.#create(request, streamId) : this.#change(request, streamId);
    });
  }

  /** CreateOrder needs no read: an existing stream makes the append's `no_stream` check fail. */
  async #create(request: CommandRequest, streamId: string): Promise<CommandOutcome> {
    const state = initialOrderState();
    const events = decide(request.command, state);
    try {
      const outcome = await this.#append(request, streamId, "no_stream", events);
      this.#remember(streamId, state, events, outcome);
      return outcome;
    } catch (error) {
      if (!(error instanceof VersionConflictError)) throw error;
      return this.#storedOr(
        request.idempotency,
        new AlreadyExistsError(`order ${request.command.data.orderId} already exists`),
      );
    }
  }

  async #change(request: CommandRequest, streamId: string): Promise<CommandOutcome> {
    const expected = request.expectedVersion;
    let fresh = false;
    let appends = 0;
    for (;;) {
      const order = await this.#load(streamId, fresh);
      let events: OrderEvent[];
      try {
        // A missing order is NOT_FOUND whatever version the client expected (the decider says so below).
        if (expected !== undefined && order.version !== expected && order.version !== 0) {
          throw new VersionConflictError(streamId, expected, order.version);
        }
        events = decide(request.command, order.state);
      } catch (refusal) {
        if (!isDomainError(refusal)) throw refusal;
        // A cached state may be stale: confirm every refusal against the store before giving it to the client.
        if (!order.fresh) {
          fresh = true;
          continue;
        }
        return this.#storedOr(request.idempotency, refusal);
      }
      const expectedVersion: ExpectedVersion = order.version === 0 ? "no_stream" : order.version;
      try {
        appends++;
        const outcome = await this.#append(request, streamId, expectedVersion, events);
        this.#remember(streamId, order.state, events, outcome);
        return outcome;
      } catch (error) {
        if (!(error instanceof VersionConflictError)) throw error;
        this.#cache.delete(streamId);
        // The client's expected version is final; without one, another writer got there first: re-read and retry.
        if (expected !== undefined || appends >= this.#maxAttempts) return this.#storedOr(request.idempotency, error);
        this.retries++;
        fresh = true;
        await sleep(
          backoffDelay(appends - 1, { baseMs: this.#retryBaseMs, maxMs: Number.POSITIVE_INFINITY, jitter: "full" }),
        );
      }
    }
  }

  async #load(streamId: string, fresh: boolean): Promise<LoadedOrder> {
    if (!fresh) {
      const cached = this.#cache.get(streamId);
      if (cached !== undefined) return { state: cached.state, version: cached.version, fresh: false };
    }
    const stream = await this.#store.readStream<OrderEvent>(streamId);
    let state = initialOrderState();
    for (const event of stream.events) state = evolve(state, event as OrderEvent);
    if (orderExists(state)) this.#cache.set(streamId, { state, version: stream.version });
    return { state, version: stream.version, fresh: true };
  }

  #append(
    request: CommandRequest,
    streamId: string,
    expectedVersion: ExpectedVersion,
    events: readonly OrderEvent[],
  ): Promise<CommandOutcome> {
    const { commandId, correlationId, causationId, now, traceparent, actor } = request.command.metadata;
    return this.#store.append({
      streamId,
      expectedVersion,
      events: events.map((event) => {
        const metadata: EventMetadata = {
          eventId: randomUUID(),
          commandId,
          correlationId,
          causationId,
          occurredAt: now,
          traceparent,
          actor,
        };
        return { event, metadata };
      }),
      idempotency: request.idempotency,
    });
  }

  #remember(streamId: string, before: OrderState, events: readonly OrderEvent[], outcome: CommandOutcome): void {
    if (outcome.duplicate) {
      // Nothing was appended; what we decided on may be stale.
      this.#cache.delete(streamId);
      return;
    }
    const state = events.reduce(evolve, before);
    if (orderExists(state)) this.#cache.set(streamId, { state, version: outcome.streamVersion });
  }

  /** A refused command may be the retry of an accepted one: answer with the stored outcome if so. */
  async #storedOr(claim: IdempotencyClaim, refusal: Error): Promise<CommandOutcome> {
    const stored = await this.#store.findCommand(claim.key);
    if (stored === undefined) throw refusal;
    if (stored.requestHash !== claim.requestHash) throw new IdempotencyKeyReusedError(claim.key);
    return {
      commandId: stored.commandId,
      streamId: stored.streamId,
      streamVersion: stored.streamVersion,
      position: stored.position,
      duplicate: true,
    };
  }
}
