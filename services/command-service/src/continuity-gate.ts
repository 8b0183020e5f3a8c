import {
  type AppendRequest,
  type CommandOutcome,
  type Event,
  type EventStore,
  UnavailableError,
} from "@orderly/eventsourcing";
import { AppendWrapper } from "./append-wrapper.js";
import type { GateLogger, StoreMarkCheck, StreamTail } from "./continuity-ports.js";

export interface ContinuityGateOptions {
  readonly stream: StreamTail;
  readonly store: StoreMarkCheck;
  readonly logger: GateLogger;
  /** While diverged or unverified, how often to ask again (default 3 s). */
  readonly retryMs?: number;
  /** Called whenever `diverged` or `unverified` changes (health, metrics). */
  readonly onChange?: () => void;
}

/**
 * Positions are never reused: before its first append after start, and after any loss of its Postgres connections,
 * the command service checks the stream's tail mark against the store. While the store is behind the stream or holds
 * another event at the tail's position (it was restored, failed over, or replaced), every append is refused with
 * UNAVAILABLE — it would give positions the bus has already seen to other events — and it asks again every few
 * seconds, so appends resume by themselves once `pnpm orderly recover` brought the store in agreement.
 *
 * Fail-open when NATS cannot be reached: writes must not depend on NATS (the outbox exists for that), so appends go
 * through, a warning is logged, `unverified` is set, and the check runs as soon as NATS answers. See
 * docs/adr/0010-store-identity-and-continuity.md.
 */
export class ContinuityGate {
  readonly #options: ContinuityGateOptions;
  readonly #retryMs: number;
  #state: "unchecked" | "verified" | "diverged" = "unchecked";
  #message: string | undefined;
  #unverified = false;
  #checking: Promise<void> | undefined;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(options: ContinuityGateOptions) {
    this.#options = options;
    this.#retryMs = options.retryMs ?? 3_000;
  }

  /** The store is behind or differs from the stream: appends are refused. */
  get diverged(): boolean {
    return this.#state === "diverged";
  }

  /** The last check could not reach the stream: appends go through unchecked. */
  get unverified(): boolean {
    return this.#unverified;
  }

  /** Checks now, in the background (at start, so that the first append rarely waits). */
  start(): void {
    this.#check().catch(() => undefined);
  }

  /** Before an append: at once when verified; refuses while diverged. */
  async admit(): Promise<void> {
    if (this.#state === "verified") return;
    if (this.#state === "unchecked" && !this.#unverified) await this.#check();
    if (this.#state === "diverged")
      throw new UnavailableError(this.#message ?? "the event store is behind the event stream");
  }

  /** A Postgres connection was lost (the database may have been restored or failed over): check again. */
  invalidate(): void {
    if (this.#closed || this.#state !== "verified") return;
    this.#state = "unchecked";
    this.start();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
  }

  #check(): Promise<void> {
    this.#checking ??= this.#run().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #run(): Promise<void> {
    const { stream, store, logger } = this.#options;
    let tail: Awaited<ReturnType<StreamTail["tail"]>>;
    try {
      tail = await stream.tail();
    } catch (error) {
      if (!this.#unverified) {
        this.#unverified = true;
        logger.warn(
          { err: error, stream: stream.stream },
          "cannot reach the event stream to check the store's continuity: accepting commands unchecked until it answers",
        );
        this.#changed();
      }
      this.#scheduleRetry();
      return;
    }
    if (this.#unverified) {
      this.#unverified = false;
      logger.info({ stream: stream.stream }, "the event stream answers again: checking the store's continuity");
      this.#changed();
    }
    let message: string | undefined;
    if (tail !== undefined) {
      try {
        message = await store.diverges(
          { position: tail.position, eventId: tail.eventId === "" ? undefined : tail.eventId },
          `the event stream ${stream.stream}`,
        );
      } catch (error) {
        // The store is down (or being replaced): appends fail on their own; check again in a while, and before the
        // next append.
        if (this.#state !== "diverged") this.#state = "unchecked";
        this.#scheduleRetry();
        throw new UnavailableError(
          `the event store cannot be checked against the event stream: ${(error as Error).message}`,
        );
      }
    }
    if (message === undefined) {
      const was = this.#state;
      this.#state = "verified";
      this.#message = undefined;
      if (was === "diverged") {
        logger.info(
          { stream: stream.stream },
          "the event store agrees with the event stream again: accepting commands",
        );
        this.#changed();
      }
      return;
    }
    if (this.#state !== "diverged") {
      logger.error({ stream: stream.stream, position: tail?.position, eventId: tail?.eventId }, message);
      this.#state = "diverged";
      this.#message = message;
      this.#changed();
    }
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#closed || this.#retry !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#check().catch(() => this.#scheduleRetry());
    }, this.#retryMs);
    this.#retry.unref();
  }

  #changed(): void {
    this.#options.onChange?.();
  }
}

/** The event store behind the gate: appends wait for (or are refused by) it; a lost connection re-arms it. */
export class GatedEventStore extends AppendWrapper {
  constructor(
    inner: EventStore,
    private readonly gate: ContinuityGate,
  ) {
    super(inner);
  }

  async append<E extends Event>(request: AppendRequest<E>): Promise<CommandOutcome> {
    await this.gate.admit();
    try {
      return await this.inner.append(request);
    } catch (error) {
      if (error instanceof UnavailableError) this.gate.invalidate();
      throw error;
    }
  }
}
