import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { Backoff } from "@orderly/retry";
import pg from "pg";
import { Registry } from "prom-client";
import { EventHeaderRenderer } from "./event-headers.js";
import {
  HeaderSlab,
  type InFlightBatch,
  JetStreamPublisher,
  type OutgoingMessage,
  PublishFailedError,
} from "./jetstream-publisher.js";
import { type RelayMetrics, registerRelayMetrics } from "./metrics.js";
import { Wakeup } from "./wakeup.js";

/**
 * A stored event in Postgres's text form, as the relay reads it: the bus encodes straight from it (no RecordedEvent,
 * no Date objects built per event).
 */
export interface StoredEventText {
  /** Decimal. */
  readonly position: string;
  readonly eventId: string;
  readonly streamId: string;
  /** Decimal. */
  readonly streamVersion: string;
  readonly type: string;
  /** The payload as JSON text. */
  readonly data: string;
  readonly commandId: string;
  readonly correlationId: string;
  readonly causationId: string;
  /** Null or empty when none came in. */
  readonly traceparent: string | null;
  /** The audit identity; null when auth was off. */
  readonly actor: string | null;
  /** Schema version of `data` (after any upcasting). */
  readonly schemaVersion: number;
  /** occurred_at as whole epoch milliseconds, rounded down (as `pg` reads it into a Date), decimal. */
  readonly occurredAtMs: string;
}

/** What the relay needs to know about the bus; `@orderly/event-bus`'s `ordersBus(namespace)` provides it. */
export interface RelayBus {
  /** JetStream stream the events go to. */
  readonly stream: string;
  subject(eventType: string): string;
  /**
   * The message body of a stored event. `stored` is filled in place for the next row: read it during the call only.
   * The returned bytes must not change afterwards (nats.js copies them at its next flush).
   */
  encodeStored(stored: StoredEventText): Uint8Array;
  /** Creates or updates the stream to its configuration. */
  ensureStream(jsm: JetStreamManager): Promise<unknown>;
  readonly headers: {
    readonly msgId: string;
    readonly position: string;
    readonly stream: string;
    readonly type: string;
    readonly committedAt: string;
    readonly traceparent: string;
  };
}

/** The part of a pino logger the relay uses. */
export interface RelayLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A batch JetStream acknowledged whole, for benchmarks and tests (`onAcked`). */
export interface AckedBatch {
  readonly firstPosition: number;
  readonly lastPosition: number;
  /** Per event, epoch ms: committed_at (transaction start, rounded down) and the arrival of the JetStream ack. */
  readonly committedAtMs: Float64Array;
  readonly ackedAtMs: Float64Array;
  /** With `withTraceparents` (tracing): each event's traceparent, and when the batch was published (epoch ms). */
  readonly traceparents?: readonly (string | null)[] | undefined;
  readonly publishedAtMs?: number | undefined;
}

/** Reads older payloads as their type's current version (docs/events.md); @orderly/eventsourcing's Upcasters fit. */
export interface PayloadUpcasters {
  needsUpcast(type: string, version: number): boolean;
  upcast(type: string, version: number, data: unknown): { version: number; data: unknown };
}

export interface OutboxRelayOptions {
  readonly databaseUrl: string;
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

/**
 * Checks a mark against the event store: does it still hold that event at that position? Implemented by
 * `StoreContinuity` of @orderly/event-store-postgres. Undefined when it does; otherwise the one line that says what
 * differs and how to repair it. Throws when the store cannot be asked.
 */
export interface ContinuityCheck {
  diverges(
    mark: { readonly position: number; readonly eventId: string | undefined },
    what: string,
  ): Promise<string | undefined>;
}

export type RelayRole = "starting" | "standby" | "active" | "stopped";

/** A NATS request (stream info, message get, ensure stream) failed: NATS is down or JetStream not answering. */
class NatsUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`NATS unavailable: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = "NatsUnavailableError";
  }
}

/** The relay stops: leave the loops without treating it as a failure. */
class StoppingSignal extends Error {}

/** A read found that the store no longer holds the event published last: stop publishing and reconcile. */
class StoreWentBackError extends Error {
  constructor(readonly position: number) {
    super(`the event store no longer holds the event published last, at position ${position}`);
    this.name = "StoreWentBackError";
  }
}

/** One row of `readEventsSql`: every column in its text form (see the column constants below). */
type EventRow = readonly (string | null)[];

/** What is kept of a published batch until its acks are in: no per-event objects live across the round trip. */
interface Published {
  readonly batch: InFlightBatch;
  readonly firstPosition: number;
  readonly lastPosition: number;
  readonly lastEventId: string;
  readonly committedMs: Float64Array;
  readonly traceparents: (string | null)[] | undefined;
  readonly publishedAtMs: number;
}

// Every column as its text form: we parse only what we need (pg's row parsing is the read limit, see MEASURED.md).
const rawTypes = {
  getTypeParser: () => (value: string) => value,
} as unknown as pg.CustomTypesConfig;

// Timestamps as whole epoch milliseconds, rounded down in exact numeric arithmetic: what `pg` puts in a Date (it drops
// the microseconds), so the envelope is the one `encodeEnvelope` writes for the event the store reads.
// The first part returns the event at the cursor (position and id only): every read also checks that the store still
// holds the event published last, for one more index probe and no payload.
const readEventsSql = `select position, event_id, null, null, null, null, null, null, null, null, null, null, null, null
from events where position = $1 and $1 > 0
union all (select position, event_id, stream_id, stream_version, event_type, data, command_id,
  correlation_id, causation_id, traceparent,
  floor(extract(epoch from occurred_at) * 1000)::int8, floor(extract(epoch from committed_at) * 1000)::int8, actor,
  schema_version
from events where position > $1 order by position limit $2)`;
const POSITION = 0;
const EVENT_ID = 1;
const STREAM_ID = 2;
const STREAM_VERSION = 3;
const EVENT_TYPE = 4;
const DATA = 5;
const COMMAND_ID = 6;
const CORRELATION_ID = 7;
const CAUSATION_ID = 8;
const TRACEPARENT = 9;
const OCCURRED_AT_MS = 10;
const COMMITTED_AT_MS = 11;
const ACTOR = 12;
const SCHEMA_VERSION = 13;

const checkpointIntervalMs = 100;

/**
 * The outbox relay: publishes committed events from the Postgres event log to JetStream in position order.
 *
 * One instance is active (it holds a session advisory lock on its own connection); others wait as hot standbys.
 * The active relay reads `events` past its cursor in batches, publishes each batch in one burst (Nats-Msg-Id = event
 * id, Nats-Expected-Last-Sequence chaining every message to the one before, so the stream can only ever hold a gapless,
 * ordered prefix of the log), keeps at most `maxInFlight` acks outstanding and advances the durable checkpoint only
 * over batches acknowledged whole. On start and after any publish failure it reconciles with the stream (its last
 * message's position) rather than trusting its memory. See docs/adr/0006-outbox-relay.md.
 */
export class OutboxRelay {
  readonly #options: Required<
    Omit<OutboxRelayOptions, "onAcked" | "registry" | "continuity" | "natsOptions" | "upcasters">
  > & {
    onAcked: OutboxRelayOptions["onAcked"];
    continuity: OutboxRelayOptions["continuity"];
    natsOptions: OutboxRelayOptions["natsOptions"];
    upcasters: OutboxRelayOptions["upcasters"];
  };
  readonly #log: RelayLogger;
  readonly #bus: RelayBus;
  readonly #metrics: RelayMetrics;
  readonly #wakeup = new Wakeup();
  #running: Promise<void> | undefined;
  #stopping = false;

  #nc: NatsConnection | undefined;
  #natsConnected = false;
  #statusWatch: Promise<void> | undefined;
  #publisher: JetStreamPublisher | undefined;
  #role: RelayRole = "starting";
  #sessionUp = false;
  #sessionError: Error | undefined;
  #publishingHealthy = false;
  #listener: pg.Client | undefined;
  #listenerRetryAt = 0;

  // Positions: `#cursor` = last published, `#acked` = every event <= it acknowledged, `#head` = last committed known.
  #cursor = 0;
  /** The id of the event at `#cursor` (undefined at 0, or when reconciled from a checkpoint written without one). */
  #cursorEventId: string | undefined;
  #acked = 0;
  #ackedEventId: string | undefined;
  /** The line logged when the store was found behind or different; undefined while it agrees. */
  #diverged: string | undefined;
  #head = 0;
  #expectedSeq = 0;
  #oldestPendingMs: number | undefined;
  #checkpointed = 0;
  #checkpointAt = 0;
  #inflight: Published[] = [];
  #inflightEvents = 0;
  #standbyLag = { events: 0, oldestMs: undefined as number | undefined };
  readonly #headerSlab = new HeaderSlab();
  readonly #headers: EventHeaderRenderer;
  /** The one stored event handed to the bus, filled in place for every row. */
  readonly #stored: { -readonly [K in keyof StoredEventText]: StoredEventText[K] } = {
    position: "",
    eventId: "",
    streamId: "",
    streamVersion: "",
    type: "",
    data: "",
    commandId: "",
    correlationId: "",
    causationId: "",
    traceparent: null,
    actor: null,
    schemaVersion: 1,
    occurredAtMs: "",
  };

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
      onAcked: options.onAcked,
      continuity: options.continuity,
      natsOptions: options.natsOptions,
      upcasters: options.upcasters,
    };
    this.#log = options.logger;
    this.#bus = options.bus;
    this.#headers = new EventHeaderRenderer(options.bus.headers);
    this.#metrics = registerRelayMetrics(options.registry ?? new Registry(), {
      lagEvents: () => this.lagEvents(),
      lagSeconds: () => this.lagSeconds(),
      isActive: () => this.#role === "active",
      isDiverged: () => this.#diverged !== undefined,
    });
  }

  get role(): RelayRole {
    return this.#role;
  }

  /** Last position JetStream acknowledged (with every position below it), as far as this instance knows. */
  get ackedPosition(): number {
    return this.#acked;
  }

  /**
   * Ready: connected to Postgres and NATS and, when active, publishing without failures and with a store that agrees
   * with the stream. A standby is ready.
   */
  get ready(): boolean {
    if (!this.#sessionUp || !this.#natsConnected || this.#diverged !== undefined) return false;
    if (this.#role === "active") return this.#publishingHealthy;
    return this.#role === "standby";
  }

  lagEvents(): number {
    if (this.#role === "active") return Math.max(0, Math.max(this.#head, this.#cursor) - this.#acked);
    if (this.#role === "standby") return this.#standbyLag.events;
    return 0;
  }

  lagSeconds(): number {
    if (this.lagEvents() === 0) return 0;
    const oldest = this.#role === "active" ? this.#oldestPendingMs : this.#standbyLag.oldestMs;
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
        await this.#connectNats();
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
    this.#publisher?.close();
    if (this.#nc) {
      await this.#nc.close().catch(() => undefined);
      await this.#statusWatch;
    }
  }

  async #connectNats(): Promise<void> {
    if (this.#nc) return;
    const nc = await connect({
      servers: this.#options.natsUrl,
      ...this.#options.natsOptions,
      name: this.#options.name,
      noAsyncTraces: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 2_000,
    }).catch((error: unknown) => {
      throw new NatsUnavailableError(error);
    });
    this.#nc = nc;
    this.#natsConnected = true;
    this.#publisher = new JetStreamPublisher(nc);
    this.#statusWatch = this.#watchNats(nc);
    this.#log.info({ server: nc.getServer() }, "connected to NATS");
  }

  async #watchNats(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        this.#natsConnected = false;
        this.#log.warn({ server: status.server }, "NATS disconnected");
        // Acks of messages written before the disconnect will never come: fail their batches now.
        this.#publisher?.failAll(new PublishFailedError("NATS disconnected"));
        this.#wakeup.fire();
      } else if (status.type === "reconnect") {
        this.#natsConnected = true;
        this.#log.info({ server: status.server }, "NATS reconnected");
        this.#wakeup.fire();
      }
    }
  }

  /** One Postgres session: connect, wait for the lock (standby), publish while it holds (active). */
  async #session(backoff: Backoff): Promise<void> {
    const client = new pg.Client({
      connectionString: this.#options.databaseUrl,
      keepAlive: true,
      application_name: this.#options.name,
      // A server that stops answering (not closing) must not hang the relay: the session ends and is retried.
      query_timeout: 30_000,
    });
    this.#sessionError = undefined;
    client.on("error", (error) => {
      this.#sessionError = error;
      this.#sessionUp = false;
      this.#wakeup.fire();
    });
    let locked = false;
    try {
      await client.connect();
      // The checkpoint is a hint, not the truth (the stream's last message is, see #reconcile): losing its last
      // updates in a Postgres crash costs nothing, so they need not wait for a WAL flush.
      await client.query("set synchronous_commit = off");
      this.#sessionUp = true;
      locked = await this.#acquireLock(client);
      if (!locked) return;
      backoff.reset();
      this.#role = "active";
      this.#publishingHealthy = false;
      this.#log.info({ name: this.#options.name }, "relay lock acquired: active");
      await this.#ensureListener();
      await this.#publishLoop(client);
    } finally {
      const wasActive = this.#role === "active";
      this.#role = this.#stopping ? "stopped" : "starting";
      this.#sessionUp = false;
      this.#inflight = [];
      this.#inflightEvents = 0;
      this.#publisher?.failAll(new PublishFailedError("relay session ended"));
      await this.#closeListener();
      if (locked && this.#sessionError === undefined) {
        await client.query("select pg_advisory_unlock(hashtext($1))", [this.#lockName]).catch(() => undefined);
      }
      await client.end().catch(() => undefined);
      if (wasActive) this.#log.info({ acked: this.#acked }, "relay lock released");
    }
  }

  get #lockName(): string {
    return `orderly:${this.#options.name}`;
  }

  /** Tries the lock until it is ours (true) or the relay stops (false). Meanwhile reports the lag as a standby. */
  async #acquireLock(client: pg.Client): Promise<boolean> {
    let announced = false;
    while (!this.#stopping) {
      this.#throwIfSessionLost();
      const result = await client.query<{
        locked: boolean;
        head: string | null;
        checkpoint: string | null;
        next_committed_ms: number | null;
      }>(
        `select pg_try_advisory_lock(hashtext($1)) as locked, (select last from global_position) as head,
           c.position as checkpoint, (extract(epoch from e.committed_at) * 1000)::float8 as next_committed_ms
         from (select 1) one
         left join relay_checkpoints c on c.name = $2
         left join events e on e.position = coalesce(c.position, 0) + 1`,
        [this.#lockName, this.#options.name],
      );
      const row = result.rows[0];
      if (row?.locked) return true;
      this.#standbyLag = {
        events: Math.max(0, Number(row?.head ?? 0) - Number(row?.checkpoint ?? 0)),
        oldestMs: row?.next_committed_ms ?? undefined,
      };
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
    const listener = new pg.Client({
      connectionString: this.#options.databaseUrl,
      keepAlive: true,
      application_name: `${this.#options.name}-listen`,
    });
    listener.on("notification", (message) => {
      const position = Number(message.payload);
      if (position > this.#head) this.#head = position;
      if (this.#oldestPendingMs === undefined && this.#head > this.#acked) this.#oldestPendingMs = Date.now();
      this.#wakeup.fire();
    });
    listener.on("error", (error) => {
      this.#log.warn({ err: error }, "LISTEN connection failed; polling until it is back");
      if (this.#listener === listener) this.#listener = undefined;
      this.#listenerRetryAt = Date.now() + this.#options.pollIntervalMs;
      listener.end().catch(() => undefined);
    });
    try {
      await listener.connect();
      await listener.query("listen orderly_events");
      this.#listener = listener;
    } catch (error) {
      this.#listenerRetryAt = Date.now() + this.#options.pollIntervalMs;
      this.#log.warn({ err: error }, "LISTEN failed; polling");
      await listener.end().catch(() => undefined);
    }
  }

  async #closeListener(): Promise<void> {
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.end().catch(() => undefined);
  }

  async #publishLoop(client: pg.Client): Promise<void> {
    const backoff = new Backoff({ baseMs: 200, maxMs: 5_000 });
    await this.#reconcileUntilDone(client, backoff);
    while (true) {
      try {
        await this.#pipeline(client);
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
        if (error instanceof StoreWentBackError) {
          this.#log.warn({ position: error.position, acked: this.#acked }, `${error.message}; reconciling`);
        } else {
          this.#metrics.publishFailures.inc();
          this.#log.warn({ err: error, acked: this.#acked }, "publish failed; reconciling with the stream");
        }
        // Let every batch in flight settle (ack or timeout), keep what landed whole, then ask the stream.
        await this.#harvest(client, true).catch(() => undefined);
        this.#inflight = [];
        this.#inflightEvents = 0;
        if (this.#stopping) return;
        await this.#sleep(backoff.next());
        await this.#reconcileUntilDone(client, backoff);
      }
    }
  }

  async #reconcileUntilDone(client: pg.Client, backoff: Backoff): Promise<void> {
    while (true) {
      if (this.#stopping) throw new StoppingSignal();
      this.#throwIfSessionLost();
      try {
        if (await this.#reconcile(client)) {
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

  /**
   * Where to go on: the position of the stream's last message (the chain guarantees the stream holds exactly the
   * positions up to it), or the durable checkpoint when the stream has no message to ask. False (and nothing set up)
   * when the store does not hold the stream's last message or the checkpoint's event: it went back.
   */
  async #reconcile(client: pg.Client): Promise<boolean> {
    const nc = this.#nc;
    if (!nc || !this.#natsConnected) throw new NatsUnavailableError(new Error("not connected"));
    const stream = this.#bus.stream;
    const { lastSeq, lastPosition, lastEventId } = await natsCall(async () => {
      const jsm = await jetstreamManager(nc, { timeout: 5_000 });
      await this.#bus.ensureStream(jsm);
      const info = await jsm.streams.info(stream);
      let lastPosition: number | undefined;
      let lastEventId: string | undefined;
      if (info.state.messages > 0) {
        const message = await jsm.streams.getMessage(stream, { seq: info.state.last_seq });
        const header = message?.header.get(this.#bus.headers.position);
        if (header) lastPosition = Number(header);
        lastEventId = message?.header.get(this.#bus.headers.msgId) || undefined;
      }
      return { lastSeq: info.state.last_seq, lastPosition, lastEventId };
    });
    await client.query("insert into relay_checkpoints (name, position) values ($1, 0) on conflict (name) do nothing", [
      this.#options.name,
    ]);
    const stored = await client.query<{ position: string; event_id: string | null }>(
      "select position, event_id from relay_checkpoints where name = $1",
      [this.#options.name],
    );
    const checkpoint = Number(stored.rows[0]?.position ?? 0);
    const checkpointEventId = stored.rows[0]?.event_id ?? undefined;
    const marks = [
      ...(lastPosition === undefined
        ? []
        : [{ position: lastPosition, eventId: lastEventId, what: `the last message of the stream ${stream}` }]),
      { position: checkpoint, eventId: checkpointEventId, what: `the relay's checkpoint (${this.#options.name})` },
    ];
    if (!(await this.#storeAgrees(marks))) return false;
    const resumeAt = lastPosition ?? checkpoint;
    const resumeEventId = lastPosition === undefined ? checkpointEventId : lastEventId;
    if (lastPosition !== undefined && lastPosition < checkpoint) {
      this.#log.warn({ checkpoint, lastPosition }, "the stream lost messages past its last one: republishing them");
    }
    this.#checkpointed = checkpoint;
    this.#cursor = resumeAt;
    this.#cursorEventId = resumeEventId;
    this.#acked = resumeAt;
    this.#ackedEventId = resumeEventId;
    if (resumeAt > checkpoint) await this.#writeCheckpoint(client, resumeAt);
    this.#expectedSeq = lastSeq;
    const head = await client.query<{ last: string; next_committed_ms: number | null }>(
      `select g.last, (extract(epoch from e.committed_at) * 1000)::float8 as next_committed_ms
       from global_position g left join events e on e.position = $1 + 1`,
      [resumeAt],
    );
    this.#head = Math.max(this.#head, Number(head.rows[0]?.last ?? 0));
    this.#oldestPendingMs = head.rows[0]?.next_committed_ms ?? undefined;
    this.#log.info({ checkpoint, resumeAt, streamLastSeq: lastSeq, head: this.#head }, "reconciled with the stream");
    return true;
  }

  /**
   * Every mark held by the store? The first that is not makes the relay diverged: one error line (both positions and
   * event ids, and the fix), `orderly_store_diverged` 1, not ready. Once they all are again, it resumes by itself.
   */
  async #storeAgrees(
    marks: readonly { position: number; eventId: string | undefined; what: string }[],
  ): Promise<boolean> {
    const continuity = this.#options.continuity;
    if (!continuity) return true;
    for (const mark of marks) {
      const message = await continuity.diverges(mark, mark.what);
      if (message === undefined) continue;
      if (this.#diverged === undefined) {
        this.#log.error({ position: mark.position, eventId: mark.eventId, head: this.#head }, message);
      }
      this.#diverged = message;
      return false;
    }
    if (this.#diverged !== undefined) {
      this.#diverged = undefined;
      this.#log.info({}, "the event store agrees with the stream again: publishing");
    }
    return true;
  }

  /**
   * Read → publish → harvest acks → checkpoint, with up to `maxInFlight` events awaiting acks. While a backlog drains,
   * the next batch is already asked for before the current one is encoded and published, so Postgres reads it while
   * this process encodes (the batch read ahead counts against `maxInFlight`).
   */
  async #pipeline(client: pg.Client): Promise<void> {
    const { batchSize, maxInFlight, pollIntervalMs } = this.#options;
    const readSize = Math.min(batchSize, maxInFlight);
    // caughtUp: the last read returned less than asked, so there is nothing to read until a notification (or poll).
    let caughtUp = false;
    let ahead: Promise<EventRow[]> | undefined;
    try {
      while (true) {
        this.#throwIfSessionLost();
        await this.#harvest(client, false);
        if (this.#stopping) {
          if (this.#inflight.length === 0) {
            await this.#flushCheckpoint(client);
            return;
          }
          await this.#inflight[0]?.batch.done;
          continue;
        }
        if (!this.#natsConnected) throw new PublishFailedError("NATS disconnected");
        if (ahead === undefined) {
          const oldest = this.#inflight[0]?.batch.done;
          if (this.#inflightEvents + readSize > maxInFlight) {
            await oldest;
            continue;
          }
          if (caughtUp) {
            if (oldest === undefined) {
              // Idle: make the durable checkpoint current before waiting.
              await this.#flushCheckpoint(client);
              await this.#ensureListener();
            }
            // Wake on a notification, the poll interval, or the oldest batch's acks (to harvest them).
            const woken = await this.#wakeup.wait(pollIntervalMs, oldest);
            if (woken || oldest === undefined) caughtUp = false;
            continue;
          }
          this.#wakeup.clear();
          ahead = this.#read(client, this.#cursor, this.#cursorEventId, readSize);
        }
        const rows = await ahead;
        ahead = undefined;
        if (rows.length < readSize) caughtUp = true;
        if (rows.length === 0) continue;
        if (!caughtUp && !this.#stopping && this.#inflightEvents + rows.length + readSize <= maxInFlight) {
          // The wake-up flag is cleared before every read, so a notification during this one causes another.
          this.#wakeup.clear();
          const lastRow = rows[rows.length - 1] as EventRow;
          ahead = this.#read(client, Number(lastRow[POSITION]), lastRow[EVENT_ID] as string, readSize);
          // Awaited on the next turn; if this loop leaves first, the finally below settles it.
          ahead.catch(() => undefined);
        }
        this.#publish(rows);
      }
    } finally {
      // A read still on the connection: let it finish before the session uses (or closes) the client.
      if (ahead !== undefined) await ahead.catch(() => undefined);
    }
  }

  /**
   * The events after `after`, at most `limit`; throws StoreWentBackError when the store no longer holds `afterEventId`
   * at `after` (when the id is unknown, that it holds an event there), unless the continuity check says the position
   * was retired by a recovery.
   */
  async #read(client: pg.Client, after: number, afterEventId: string | undefined, limit: number): Promise<EventRow[]> {
    const result = await client.query({
      name: "outbox_relay_read",
      text: readEventsSql,
      values: [after, limit],
      rowMode: "array",
      types: rawTypes,
    });
    const rows = result.rows as EventRow[];
    const first = rows[0];
    const atCursor = first !== undefined && first[POSITION] === String(after);
    if (atCursor) rows.shift();
    const continuity = this.#options.continuity;
    if (after === 0 || continuity === undefined) return rows;
    if (atCursor && (afterEventId === undefined || first[EVENT_ID] === afterEventId)) return rows;
    // A position a recovery retired holds nothing, by design: the full check knows those.
    if (!atCursor && (await continuity.diverges({ position: after, eventId: afterEventId }, "the relay")) === undefined)
      return rows;
    throw new StoreWentBackError(after);
  }

  /** Encodes and publishes a batch in one burst, straight from the rows' text (no event object per row). */
  #publish(rows: EventRow[]): void {
    const publisher = this.#publisher;
    if (!publisher) throw new PublishFailedError("not connected to NATS");
    const bus = this.#bus;
    const headers = this.#headers;
    const stored = this.#stored;
    const n = rows.length;
    const committedMs = new Float64Array(n);
    const traceparents: (string | null)[] | undefined = this.#options.withTraceparents ? new Array(n) : undefined;
    const messages: OutgoingMessage[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const r = rows[i] as EventRow;
      const position = r[POSITION] as string;
      const eventId = r[EVENT_ID] as string;
      const streamId = r[STREAM_ID] as string;
      const type = r[EVENT_TYPE] as string;
      const traceparent = r[TRACEPARENT] ?? null;
      const committed = r[COMMITTED_AT_MS] as string;
      stored.position = position;
      stored.eventId = eventId;
      stored.streamId = streamId;
      stored.streamVersion = r[STREAM_VERSION] as string;
      stored.type = type;
      stored.data = r[DATA] as string;
      stored.commandId = r[COMMAND_ID] as string;
      stored.correlationId = r[CORRELATION_ID] as string;
      stored.causationId = r[CAUSATION_ID] as string;
      stored.traceparent = traceparent;
      stored.actor = r[ACTOR] ?? null;
      stored.schemaVersion = Number(r[SCHEMA_VERSION] ?? 1);
      const upcasters = this.#options.upcasters;
      if (upcasters?.needsUpcast(type, stored.schemaVersion)) {
        const upcast = upcasters.upcast(type, stored.schemaVersion, JSON.parse(stored.data));
        stored.data = JSON.stringify(upcast.data);
        stored.schemaVersion = upcast.version;
      }
      stored.occurredAtMs = r[OCCURRED_AT_MS] as string;
      committedMs[i] = Number(committed);
      if (traceparents) traceparents[i] = traceparent;
      const text = headers.render(eventId, position, streamId, type, committed, traceparent, this.#expectedSeq + i);
      messages[i] = {
        subject: bus.subject(type),
        data: bus.encodeStored(stored),
        headers: this.#headerSlab.encode(text),
      };
    }
    const publishedAtMs = traceparents ? Date.now() : 0;
    const batch = publisher.publish(messages, this.#options.ackTimeoutMs);
    const firstPosition = Number((rows[0] as EventRow)[POSITION]);
    const lastPosition = Number((rows[n - 1] as EventRow)[POSITION]);
    this.#expectedSeq += n;
    this.#cursor = lastPosition;
    if (this.#cursor > this.#head) this.#head = this.#cursor;
    if (this.#inflight.length === 0 && this.#oldestPendingMs === undefined) {
      this.#oldestPendingMs = committedMs[0];
    }
    this.#cursorEventId = (rows[n - 1] as EventRow)[EVENT_ID] as string;
    this.#inflight.push({
      batch,
      firstPosition,
      lastPosition,
      lastEventId: this.#cursorEventId,
      committedMs,
      traceparents,
      publishedAtMs,
    });
    this.#inflightEvents += n;
  }

  /**
   * Takes the acknowledged batches off the front of the window and writes the checkpoint once for all of them.
   * Throws the first failed batch's error (those behind it are not acknowledged in effect: the chain broke).
   * With `all`, first waits for every batch in flight to settle.
   */
  async #harvest(client: pg.Client, all: boolean): Promise<void> {
    if (all) await Promise.all(this.#inflight.map((p) => p.batch.done));
    let advanced = false;
    let failure: PublishFailedError | undefined;
    while (this.#inflight.length > 0) {
      const front = this.#inflight[0] as Published;
      if (!front.batch.settled) break;
      if (front.batch.error) {
        failure = front.batch.error;
        break;
      }
      this.#inflight.shift();
      this.#inflightEvents -= front.committedMs.length;
      this.#onBatchAcked(front);
      advanced = true;
    }
    // At most one checkpoint write per interval while busy (it shares the connection with the reads, and every
    // round trip on it delays the next read); always when idle, stopping or after a failure (see #flushCheckpoint).
    if (advanced && (all || Date.now() - this.#checkpointAt >= checkpointIntervalMs))
      await this.#flushCheckpoint(client);
    if (failure) throw failure;
  }

  #onBatchAcked({
    batch,
    firstPosition,
    lastPosition,
    lastEventId,
    committedMs,
    traceparents,
    publishedAtMs,
  }: Published): void {
    for (let i = 0; i < committedMs.length; i++) {
      this.#metrics.latency.observe(Math.max(0, ((batch.ackedAt[i] as number) - (committedMs[i] as number)) / 1000));
    }
    this.#metrics.published.inc(committedMs.length);
    this.#metrics.batches.inc();
    this.#acked = lastPosition;
    this.#ackedEventId = lastEventId;
    const next = this.#inflight[0];
    this.#oldestPendingMs = next ? next.committedMs[0] : this.#head > lastPosition ? Date.now() : undefined;
    this.#options.onAcked?.({
      firstPosition,
      lastPosition,
      committedAtMs: committedMs,
      ackedAtMs: batch.ackedAt,
      ...(traceparents ? { traceparents, publishedAtMs } : {}),
    });
  }

  async #flushCheckpoint(client: pg.Client): Promise<void> {
    if (this.#acked > this.#checkpointed) await this.#writeCheckpoint(client, this.#acked);
  }

  /** The checkpoint at the acknowledged position, with the id of the event there (its mark). */
  async #writeCheckpoint(client: pg.Client, position: number): Promise<void> {
    this.#checkpointAt = Date.now();
    this.#checkpointed = position;
    const eventId = position === this.#acked ? this.#ackedEventId : undefined;
    await client.query({
      name: "outbox_relay_checkpoint",
      text: `insert into relay_checkpoints (name, position, event_id, updated_at) values ($1, $2, $3, now())
             on conflict (name) do update set position = excluded.position, event_id = excluded.event_id,
               updated_at = now()
             where relay_checkpoints.position <= excluded.position`,
      values: [this.#options.name, position, eventId ?? null],
    });
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

async function natsCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw new NatsUnavailableError(error);
  }
}
