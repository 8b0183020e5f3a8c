import type { NodeConnectionOptions } from "@nats-io/transport-node";
import { Backoff } from "@orderly/retry";
import { Registry } from "prom-client";
import { PublishFailedError } from "./jetstream-publisher.js";
import { type RelayMetrics, registerRelayMetrics } from "./metrics.js";
import { NatsSession, NatsUnavailableError } from "./nats-session.js";
import { type AckedBatch, PublishPipeline, StoreWentBackError } from "./pipeline.js";
import type {
  CommitListener,
  ContinuityCheck,
  PayloadUpcasters,
  RelayBus,
  RelayLogger,
  RelaySession,
  RelayStore,
} from "./ports.js";
import { StreamReconciler } from "./reconciler.js";
import { Wakeup } from "./wakeup.js";

export interface OutboxRelayOptions {
  /** The event store's side: sessions (lock, tail reads, checkpoint) and the LISTEN (`PostgresRelayStore`). */
  readonly store: RelayStore;
  /** One server, or a cluster's servers (the client tries each and follows the cluster's topology). */
  readonly natsUrl: string | string[];
  /** More NATS connection options (credentials, TLS: the stack config's `nats`), spread after the servers. */
  readonly natsOptions?: Partial<NodeConnectionOptions>;
  readonly bus: RelayBus;
  readonly logger: RelayLogger;
  /** Metrics are registered here (default: a private registry). */
  readonly registry?: Registry;
  /** Checkpoint row in `relay_checkpoints` and advisory lock name (default `outbox-relay`). */
  readonly name?: string;
  /** Events read per query (default 1000). */
  readonly batchSize?: number;
  /** Most events published and not yet acknowledged (default 4096). */
  readonly maxInFlight?: number;
  /** Read even without a notification this often (default 1000 ms): a lost NOTIFY never stalls the relay. */
  readonly pollIntervalMs?: number;
  /** A batch whose acks are not all in after this long failed (default 10 s). */
  readonly ackTimeoutMs?: number;
  /** How often a standby retries the lock (default 500 ms). */
  readonly lockRetryMs?: number;
  readonly onAcked?: (batch: AckedBatch) => void;
  /** Hand each batch's traceparents and publish time to `onAcked` (for a publish span per trace; default false). */
  readonly withTraceparents?: boolean;
  /**
   * Checks, on start and every reconciliation, that the store holds the stream's last message and the relay's
   * checkpoint (same event at that position), and on every read that it still holds the event published last. While
   * it does not (Postgres went back: a restore, a new database) nothing is published. Without it nothing is checked.
   */
  readonly continuity?: ContinuityCheck;
  /** Upcasts older payloads before they are published (default: none, payloads as stored). */
  readonly upcasters?: PayloadUpcasters;
  /** While the store disagrees, how often it is asked again (default 3 s). */
  readonly continuityRetryMs?: number;
}

export type RelayRole = "starting" | "standby" | "active" | "stopped";

/** The relay stops: leave the loops without treating it as a failure. */
class StoppingSignal extends Error {}

/**
 * The outbox relay: publishes committed events from the event log to JetStream in position order.
 *
 * One instance is active (it holds the leader lock on its database session); others wait as hot standbys. The active
 * relay runs the read-ahead `PublishPipeline` (Nats-Msg-Id = event id, Nats-Expected-Last-Sequence chaining every
 * message to the one before, so the stream can only ever hold a gapless, ordered prefix of the log), and advances the
 * durable checkpoint only over batches acknowledged whole. On start and after any publish failure the
 * `StreamReconciler` decides where to go on from the stream's last message rather than from memory. This class is the
 * lifecycle around them: the `NatsSession`, the database session and its lock, the LISTEN wake-up, retries, readiness
 * and lag. See docs/adr/0006-outbox-relay.md.
 */
export class OutboxRelay {
  readonly #options: Required<
    Omit<OutboxRelayOptions, "onAcked" | "registry" | "continuity" | "natsOptions" | "store" | "natsUrl" | "upcasters">
  >;
  readonly #store: RelayStore;
  readonly #log: RelayLogger;
  readonly #metrics: RelayMetrics;
  readonly #wakeup = new Wakeup();
  readonly #nats: NatsSession;
  readonly #pipeline: PublishPipeline;
  readonly #reconciler: StreamReconciler;
  #running: Promise<void> | undefined;
  #stopping = false;
  #role: RelayRole = "starting";
  #sessionUp = false;
  #sessionError: Error | undefined;
  #publishingHealthy = false;
  #listener: CommitListener | undefined;
  #listenerRetryAt = 0;
  #standbyLag = { events: 0, oldestMs: undefined as number | undefined };

  constructor(options: OutboxRelayOptions) {
    this.#options = {
      name: "outbox-relay",
      batchSize: 1000,
      maxInFlight: 4096,
      pollIntervalMs: 1000,
      ackTimeoutMs: 10_000,
      lockRetryMs: 500,
      continuityRetryMs: 3_000,
      withTraceparents: false,
      ...options,
    };
    const { name, bus } = this.#options;
    this.#store = options.store;
    this.#log = options.logger;
    this.#nats = new NatsSession({
      servers: options.natsUrl,
      natsOptions: options.natsOptions,
      name,
      bus,
      logger: options.logger,
      onChange: () => this.#wakeup.fire(),
    });
    this.#metrics = registerRelayMetrics(options.registry ?? new Registry(), {
      lagEvents: () => this.lagEvents(),
      lagSeconds: () => this.lagSeconds(),
      isActive: () => this.#role === "active",
      isDiverged: () => this.#reconciler.diverged,
    });
    this.#reconciler = new StreamReconciler({
      name,
      stream: bus.stream,
      continuity: options.continuity,
      logger: this.#log,
    });
    this.#pipeline = new PublishPipeline({
      ...this.#options,
      metrics: this.#metrics,
      wakeup: this.#wakeup,
      continuity: options.continuity,
      onAcked: options.onAcked,
      upcasters: options.upcasters,
      stopping: () => this.#stopping,
      checkSession: () => this.#throwIfSessionLost(),
      natsConnected: () => this.#nats.connected,
      onIdle: () => this.#ensureListener(),
    });
  }

  get role(): RelayRole {
    return this.#role;
  }

  /** Last position JetStream acknowledged (with every position below it), as far as this instance knows. */
  get ackedPosition(): number {
    return this.#pipeline.acked;
  }

  /**
   * Ready: connected to Postgres and NATS and, when active, publishing without failures and with a store that agrees
   * with the stream. A standby is ready.
   */
  get ready(): boolean {
    if (!this.#sessionUp || !this.#nats.connected || this.#reconciler.diverged) return false;
    if (this.#role === "active") return this.#publishingHealthy;
    return this.#role === "standby";
  }

  lagEvents(): number {
    if (this.#role === "active") return this.#pipeline.lagEvents;
    if (this.#role === "standby") return this.#standbyLag.events;
    return 0;
  }

  lagSeconds(): number {
    if (this.lagEvents() === 0) return 0;
    const oldest = this.#role === "active" ? this.#pipeline.oldestPendingMs : this.#standbyLag.oldestMs;
    return oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000);
  }

  /** Starts the relay in the background; it keeps retrying on its own until `stop()`. */
  start(): void {
    if (this.#running !== undefined) throw new Error("relay already started");
    this.#running = this.#run().catch((error: unknown) => {
      this.#log.error({ err: error }, "relay loop crashed");
    });
  }

  /** Finishes the acks of the batches in flight, writes the checkpoint, releases the lock, closes connections. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wakeup.fire();
    await this.#running;
  }

  async #run(): Promise<void> {
    const backoff = new Backoff();
    while (!this.#stopping) {
      try {
        await this.#nats.connect();
        await this.#session(backoff);
      } catch (error) {
        if (!(error instanceof StoppingSignal)) {
          this.#log.warn({ err: error }, "relay session ended; retrying");
        }
      }
      if (this.#stopping) break;
      await this.#sleep(backoff.next(), false);
    }
    this.#role = "stopped";
    await this.#nats.close();
  }

  /** One database session: connect, wait for the lock (standby), publish while it holds (active). */
  async #session(backoff: Backoff): Promise<void> {
    this.#sessionError = undefined;
    let session: RelaySession | undefined;
    let locked = false;
    try {
      session = await this.#store.openSession({
        name: this.#options.name,
        onLost: (error) => {
          this.#sessionError = error;
          this.#sessionUp = false;
          this.#wakeup.fire();
        },
      });
      this.#sessionUp = true;
      locked = await this.#acquireLock(session);
      if (!locked) return;
      backoff.reset();
      this.#role = "active";
      this.#publishingHealthy = false;
      this.#log.info({ name: this.#options.name }, "relay lock acquired: active");
      await this.#ensureListener();
      await this.#publishLoop(session);
    } finally {
      const wasActive = this.#role === "active";
      this.#role = this.#stopping ? "stopped" : "starting";
      this.#sessionUp = false;
      this.#pipeline.dropInFlight();
      this.#nats.publisher?.failAll(new PublishFailedError("relay session ended"));
      await this.#closeListener();
      if (session !== undefined) {
        if (locked && this.#sessionError === undefined) await session.unlock().catch(() => undefined);
        await session.close();
      }
      if (wasActive) this.#log.info({ acked: this.#pipeline.acked }, "relay lock released");
    }
  }

  /** Tries the lock until it is ours (true) or the relay stops (false). Meanwhile reports the lag as a standby. */
  async #acquireLock(session: RelaySession): Promise<boolean> {
    let announced = false;
    while (!this.#stopping) {
      this.#throwIfSessionLost();
      const attempt = await session.tryLock();
      if (attempt.locked) return true;
      this.#standbyLag = { events: attempt.lagEvents, oldestMs: attempt.oldestPendingMs };
      if (!announced) {
        this.#role = "standby";
        this.#log.info({ name: this.#options.name }, "another relay holds the lock: standing by");
        announced = true;
      }
      await this.#sleep(this.#options.lockRetryMs);
    }
    return false;
  }

  #throwIfSessionLost(): void {
    if (this.#sessionError) throw this.#sessionError;
  }

  async #ensureListener(): Promise<void> {
    if (this.#listener || Date.now() < this.#listenerRetryAt) return;
    let listener: CommitListener | undefined;
    const retryLater = () => {
      this.#listenerRetryAt = Date.now() + this.#options.pollIntervalMs;
    };
    try {
      listener = await this.#store.listen({
        applicationName: `${this.#options.name}-listen`,
        onCommit: (head) => {
          this.#pipeline.noteCommit(head);
          this.#wakeup.fire();
        },
        onError: (error) => {
          this.#log.warn({ err: error }, "LISTEN connection failed; polling until it is back");
          if (this.#listener === listener) this.#listener = undefined;
          retryLater();
        },
      });
      this.#listener = listener;
    } catch (error) {
      retryLater();
      this.#log.warn({ err: error }, "LISTEN failed; polling");
    }
  }

  async #closeListener(): Promise<void> {
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.close();
  }

  async #publishLoop(session: RelaySession): Promise<void> {
    const backoff = new Backoff({ baseMs: 200, maxMs: 5_000 });
    await this.#reconcileUntilDone(session, backoff);
    while (true) {
      try {
        await this.#pipeline.run(session, this.#nats.publisher);
        return;
      } catch (error) {
        if (
          !(
            error instanceof PublishFailedError ||
            error instanceof NatsUnavailableError ||
            error instanceof StoreWentBackError
          )
        )
          throw error;
        this.#publishingHealthy = false;
        const acked = this.#pipeline.acked;
        if (error instanceof StoreWentBackError) {
          this.#log.warn({ position: error.position, acked }, `${error.message}; reconciling`);
        } else {
          this.#metrics.publishFailures.inc();
          this.#log.warn({ err: error, acked }, "publish failed; reconciling with the stream");
        }
        // Let every batch in flight settle (ack or timeout), keep what landed whole, then ask the stream.
        await this.#pipeline.harvest(session, true).catch(() => undefined);
        this.#pipeline.dropInFlight();
        if (this.#stopping) return;
        await this.#sleep(backoff.next());
        await this.#reconcileUntilDone(session, backoff);
      }
    }
  }

  async #reconcileUntilDone(session: RelaySession, backoff: Backoff): Promise<void> {
    while (true) {
      if (this.#stopping) throw new StoppingSignal();
      this.#throwIfSessionLost();
      try {
        if (await this.#reconcile(session)) {
          this.#publishingHealthy = true;
          backoff.reset();
          return;
        }
        // The store went back: publish nothing, ask again in a while (a recovery brings it back in agreement).
        await this.#sleep(this.#options.continuityRetryMs);
      } catch (error) {
        if (!(error instanceof NatsUnavailableError)) throw error;
        this.#log.warn({ err: error }, "cannot reach JetStream; retrying");
        await this.#sleep(backoff.next());
      }
    }
  }

  /** Asks the stream and the checkpoint where to go on; false (nothing set up) while the store disagrees. */
  async #reconcile(session: RelaySession): Promise<boolean> {
    const tail = await this.#nats.streamTail();
    const checkpoint = await session.readCheckpoint();
    const point = await this.#reconciler.resumePoint(tail, checkpoint, this.#pipeline.head);
    if (point === undefined) return false;
    await this.#pipeline.resume(session, point);
    this.#log.info(
      {
        checkpoint: point.checkpoint,
        resumeAt: point.position,
        streamLastSeq: tail.lastSeq,
        head: this.#pipeline.head,
      },
      "reconciled with the stream",
    );
    return true;
  }

  /** Sleeps `ms`, cut short by stop() (and by a lost session when `session`). Keeps a notification pending. */
  async #sleep(ms: number, session = true): Promise<void> {
    const deadline = Date.now() + ms;
    let notified = false;
    while (!this.#stopping && !(session && this.#sessionError !== undefined)) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      if (await this.#wakeup.wait(left)) notified = true;
    }
    if (notified) this.#wakeup.fire();
  }
}
