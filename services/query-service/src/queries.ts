import {
  isUuid,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
  ValidationError,
} from "@orderly/eventsourcing";
import type { LagClock } from "./lag.js";
import type { PageTokens } from "./page-token.js";
import type { PositionWatcher, WaitOutcome } from "./position-watcher.js";
import {
  type CustomerOrdersReader,
  isReadModelName,
  type OrderSummaryReader,
  type OrderSummaryView,
  type ReadModelName,
  readModelNames,
} from "./read-models.js";

/**
 * The query service's use cases, in one place: GetOrderSummary, ListCustomerOrders, WaitForPosition.
 * Plain values in and out; `to-summary.ts` maps them to and from protobuf.
 */

export interface Consistency {
  readonly readModel: ReadModelName;
  readonly position: number;
  readonly lagSeconds: number;
}

export interface QueryContext {
  /** Aborted when the caller cancels or its deadline passes. */
  readonly signal?: AbortSignal;
  /** The caller's deadline (epoch ms), if it set one. */
  readonly deadline?: number | undefined;
  /** With tracing on, the call's SERVER span (what the wait's span hangs below). */
  readonly traceparent?: string | undefined;
}

/** Hooks for metrics (no-ops by default). */
export interface QueryObserver {
  waited?(readModel: ReadModelName, outcome: WaitOutcome, seconds: number, traceparent?: string): void;
  /** A read with min_position succeeded: `position` is now visible. */
  visible?(readModel: ReadModelName, position: number): void;
}

export interface QueriesOptions {
  readonly summaries: OrderSummaryReader;
  readonly customerOrders: CustomerOrdersReader;
  readonly watchers: Readonly<Record<ReadModelName, PositionWatcher>>;
  readonly lag: LagClock;
  readonly pageTokens: PageTokens;
  /** Budget of a read-your-writes wait (default 500 ms); never past the caller's deadline. */
  readonly maxWaitMs?: number;
  /** Longest WaitForPosition stream (default 30 s). */
  readonly streamMaxMs?: number;
  /** Least time between two progress messages of one stream (default 50 ms). */
  readonly streamIntervalMs?: number;
  /** Most concurrent waiters (read-your-writes waits and streams together; default 10,000). */
  readonly maxWaiters?: number;
  readonly observer?: QueryObserver;
  readonly now?: () => number;
}

export const defaultPageSize = 20;
export const maxPageSize = 100;
export const maxCustomerIdLength = 128;
/** Margin kept before the caller's deadline so an UNAVAILABLE answer still reaches it. */
const deadlineMarginMs = 5;

export interface WaitProgress {
  readonly readModels: Consistency[];
  readonly reached: boolean;
}

export class Queries {
  private readonly maxWaitMs: number;
  private readonly streamMaxMs: number;
  private readonly streamIntervalMs: number;
  private readonly maxWaiters: number;
  private readonly now: () => number;
  private waiting = 0;
  private streaming = 0;

  constructor(private readonly options: QueriesOptions) {
    this.maxWaitMs = options.maxWaitMs ?? 500;
    this.streamMaxMs = options.streamMaxMs ?? 30_000;
    this.streamIntervalMs = options.streamIntervalMs ?? 50;
    this.maxWaiters = options.maxWaiters ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Read-your-writes waits in progress. */
  get waitingCount(): number {
    return this.waiting;
  }

  /** WaitForPosition streams open. */
  get streamCount(): number {
    return this.streaming;
  }

  async getOrderSummary(
    request: { orderId: string; minPosition: number },
    ctx: QueryContext = {},
  ): Promise<{ summary: OrderSummaryView; consistency: Consistency }> {
    const orderId = validateOrderId(request.orderId);
    validatePosition(request.minPosition, "min_position");
    // Partitioned: the order's own partition may have applied min_position while the slowest one has not.
    if (!(await this.ownPartitionAt(orderId, request.minPosition))) {
      await this.awaitPosition("order_summaries", request.minPosition, ctx, () =>
        this.ownPartitionAt(orderId, request.minPosition),
      );
    }
    const summary = await readFrom("order_summaries", () => this.options.summaries.getOrderSummary(orderId));
    if (!summary) {
      // Only now is NOT_FOUND the truth: the read model has applied min_position.
      throw new NotFoundError(`order ${orderId} not found`);
    }
    if (request.minPosition > 0) this.options.observer?.visible?.("order_summaries", request.minPosition);
    return { summary, consistency: await this.consistency("order_summaries") };
  }

  async listCustomerOrders(
    request: { customerId: string; pageSize: number; pageToken: string; minPosition: number },
    ctx: QueryContext = {},
  ): Promise<{ orders: OrderSummaryView[]; nextPageToken: string; consistency: Consistency }> {
    const customerId = validateCustomerId(request.customerId);
    const pageSize = validatePageSize(request.pageSize);
    validatePosition(request.minPosition, "min_position");
    const binding = { customerId, pageSize };
    const after = request.pageToken === "" ? undefined : this.options.pageTokens.decode(request.pageToken, binding);
    await this.awaitPosition("customer_orders", request.minPosition, ctx);
    const page = await readFrom("customer_orders", () =>
      this.options.customerOrders.listCustomerOrders(
        customerId,
        after === undefined ? { limit: pageSize } : { limit: pageSize, after },
      ),
    );
    if (request.minPosition > 0) this.options.observer?.visible?.("customer_orders", request.minPosition);
    return {
      orders: page.orders,
      nextPageToken: page.next === undefined ? "" : this.options.pageTokens.encode(page.next, binding),
      consistency: await this.consistency("customer_orders"),
    };
  }

  /**
   * The current positions at once, then on every change (at most every `streamIntervalMs`), and a last message with
   * `reached = true` once every watched read model is at `minPosition`. Ends quietly when the caller goes away;
   * UNAVAILABLE after the server's maximum.
   */
  async *waitForPosition(
    request: { minPosition: number; readModels: readonly string[] },
    ctx: QueryContext = {},
  ): AsyncGenerator<WaitProgress, void, undefined> {
    validatePosition(request.minPosition, "min_position");
    const names = validateReadModels(request.readModels);
    this.acquireWaiter();
    this.streaming++;
    const watchers = names.map((name) => this.options.watchers[name]);
    const endAt = this.now() + this.streamMaxMs;
    const signal = ctx.signal;
    let changed = true;
    let wake: (() => void) | undefined;
    const onEvent = () => {
      changed = true;
      wake?.();
    };
    const onAbort = () => wake?.();
    const unsubscribe = watchers.map((watcher) => watcher.onChange(onEvent));
    signal?.addEventListener("abort", onAbort, { once: true });
    let lastSentAt = Number.NEGATIVE_INFINITY;
    try {
      while (!signal?.aborted) {
        const reached = watchers.every((w) => w.position >= request.minPosition);
        const now = this.now();
        if (reached || (changed && now - lastSentAt >= this.streamIntervalMs)) {
          changed = false;
          const readModels = await Promise.all(names.map((name) => this.consistency(name)));
          if (signal?.aborted) return;
          lastSentAt = this.now();
          yield { readModels, reached };
          if (reached) return;
          continue;
        }
        if (now >= endAt) {
          const state = await Promise.all(names.map((name) => this.consistency(name)));
          throw new UnavailableError(
            `min_position ${request.minPosition} not reached within the server's ${this.streamMaxMs} ms: ${describe(state)}`,
          );
        }
        // Sleep until something changes, the caller leaves, the throttle opens or the stream's time is up.
        const throttled = changed;
        const until = throttled ? Math.min(lastSentAt + this.streamIntervalMs, endAt) : endAt;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.max(0, until - now));
          function done() {
            clearTimeout(timer);
            wake = undefined;
            resolve();
          }
          // While throttled only a cancel cuts the pause short; otherwise a change does too.
          wake = throttled ? () => (signal?.aborted ? done() : undefined) : done;
        });
      }
    } finally {
      for (const off of unsubscribe) off();
      signal?.removeEventListener("abort", onAbort);
      wake = undefined;
      this.streaming--;
    }
  }

  /** Position and lag of a read model now. */
  async consistency(readModel: ReadModelName): Promise<Consistency> {
    const position = this.options.watchers[readModel].position;
    let lagSeconds: number;
    try {
      lagSeconds = await this.options.lag.lagSeconds(position);
    } catch (error) {
      throw new UnavailableError(`cannot compute the lag of ${readModel}: ${message(error)}`);
    }
    return { readModel, position, lagSeconds };
  }

  /** Whether the partition that owns `orderId` has applied `minPosition` (false when unknown or unpartitioned). */
  private async ownPartitionAt(orderId: string, minPosition: number): Promise<boolean> {
    const reader = this.options.summaries;
    if (minPosition <= this.options.watchers.order_summaries.position || !reader.partitionCheckpoint) return false;
    try {
      const position = await reader.partitionCheckpoint(orderId);
      return position !== undefined && position >= minPosition;
    } catch {
      return false; // the whole model's checkpoint decides
    }
  }

  /**
   * Waits until the read model reached `minPosition` within the budget. `reachedElse`: asked once more when the wait
   * timed out (the order's own partition may have got there), before the caller is told to retry.
   */
  private async awaitPosition(
    readModel: ReadModelName,
    minPosition: number,
    ctx: QueryContext,
    reachedElse?: () => Promise<boolean>,
  ): Promise<void> {
    const watcher = this.options.watchers[readModel];
    if (minPosition <= watcher.position) return;
    const budget = Math.min(
      this.maxWaitMs,
      ctx.deadline === undefined ? Number.POSITIVE_INFINITY : ctx.deadline - this.now() - deadlineMarginMs,
    );
    this.acquireWaiter();
    this.waiting++;
    const started = performance.now();
    let outcome: WaitOutcome;
    try {
      outcome = await watcher.waitFor(minPosition, {
        timeoutMs: Math.max(0, budget),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
    } finally {
      this.waiting--;
    }
    this.options.observer?.waited?.(readModel, outcome, (performance.now() - started) / 1000, ctx.traceparent);
    if (outcome === "reached") return;
    if (outcome === "cancelled") throw new UnavailableError("the request was cancelled while waiting for min_position");
    if (outcome === "timeout" && (await reachedElse?.())) return;
    const state = await this.consistency(readModel);
    throw new UnavailableError(
      `${readModel} has not reached min_position ${minPosition} within ${Math.max(0, Math.round(budget))} ms: ${describe([state])}; retry`,
    );
  }

  private acquireWaiter(): void {
    if (this.waiting + this.streaming >= this.maxWaiters) {
      throw new ResourceExhaustedError(`too many concurrent waiters (limit ${this.maxWaiters})`);
    }
  }
}

function describe(state: readonly Consistency[]): string {
  return state
    .map((s) => `${s.readModel} is at position ${s.position} with lag ${s.lagSeconds.toFixed(3)} s`)
    .join(", ");
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A reader's own failure (connection lost, timeout) is an outage of that read model: UNAVAILABLE, safe to retry. */
async function readFrom<T>(readModel: ReadModelName, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    throw new UnavailableError(`${readModel} read failed: ${message(error)}`);
  }
}

export function validateOrderId(orderId: string): string {
  if (orderId === "") throw new ValidationError("order_id", "is required");
  if (!isUuid(orderId)) throw new ValidationError("order_id", "must be a UUID");
  return orderId.toLowerCase();
}

export function validateCustomerId(customerId: string): string {
  if (customerId === "") throw new ValidationError("customer_id", "is required");
  if (customerId.length > maxCustomerIdLength) {
    throw new ValidationError("customer_id", `must be at most ${maxCustomerIdLength} characters`);
  }
  return customerId;
}

export function validatePageSize(pageSize: number): number {
  if (pageSize === 0) return defaultPageSize;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > maxPageSize) {
    throw new ValidationError("page_size", `must be 0 (default ${defaultPageSize}) or 1-${maxPageSize}`);
  }
  return pageSize;
}

function validatePosition(position: number, field: string): void {
  if (!Number.isSafeInteger(position) || position < 0) throw new ValidationError(field, "must be >= 0");
}

function validateReadModels(names: readonly string[]): ReadModelName[] {
  if (names.length === 0) return [...readModelNames];
  const result: ReadModelName[] = [];
  for (const name of names) {
    if (!isReadModelName(name)) {
      throw new ValidationError(
        "read_models",
        `unknown read model ${JSON.stringify(name)} (known: ${readModelNames.join(", ")})`,
      );
    }
    if (!result.includes(name)) result.push(name);
  }
  return result;
}
