import type { Logger } from "@orderly/observability";
import { backoffDelay } from "@orderly/retry";
import type { Redis } from "ioredis";
import pg from "pg";
import type { PositionWatcher } from "./position-watcher.js";

/** The Postgres channel on which the Postgres projectors announce `<name>:<position>` after each committed batch. */
export const projectionsChannel = "orderly_projections";

/** The Redis channel on which the customer_orders projection publishes `<position>` after each EXEC. */
// The projection's `customerOrdersKeys(namespace).channel`: inside the namespace's hash tag like its keys.
export const customerOrdersChannel = (namespace: string): string => `{${namespace}}:customer_orders:checkpoint`;

/** `<name>:<position>` → its parts, or undefined when malformed. */
export function parseProjectionNotice(payload: string): { name: string; position: number } | undefined {
  const colon = payload.lastIndexOf(":");
  if (colon <= 0) return undefined;
  const raw = payload.slice(colon + 1);
  if (!/^\d{1,16}$/.test(raw)) return undefined;
  const position = Number(raw);
  return Number.isSafeInteger(position) ? { name: payload.slice(0, colon), position } : undefined;
}

export interface PostgresNotificationsOptions {
  readonly connectionString: string;
  /** Watchers by the projection name used in the notice. */
  readonly watchers: readonly PositionWatcher[];
  readonly logger: Logger;
  readonly channel?: string;
  /**
   * The notices come from the primary while the watchers read their checkpoints elsewhere (QUERY_DATABASE_URL, a
   * streaming replica): a notice only says where to look, and the watcher re-reads until its own source got there.
   */
  readonly readsElsewhere?: boolean;
}

/**
 * One dedicated connection that LISTENs on `orderly_projections` and feeds the watchers. It reconnects with backoff
 * by itself, and after every (re)connect re-reads the watchers' checkpoints, because notifications sent while it
 * was away are gone.
 */
export class PostgresCheckpointNotifications {
  private client: pg.Client | undefined;
  private connectedNow = false;
  private closed = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  private readonly byName: Map<string, PositionWatcher>;
  private readonly channel: string;

  constructor(private readonly options: PostgresNotificationsOptions) {
    this.byName = new Map(options.watchers.map((w) => [w.name, w]));
    this.channel = options.channel ?? projectionsChannel;
  }

  get connected(): boolean {
    return this.connectedNow;
  }

  /** Connects and LISTENs; throws when the first attempt fails (start-up should say so). */
  async start(): Promise<void> {
    await this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    this.connectedNow = false;
    if (client) await client.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: "query-service listener",
    });
    client.on("notification", (message) => {
      if (message.channel !== this.channel || message.payload === undefined) return;
      const notice = parseProjectionNotice(message.payload);
      if (!notice) return;
      const watcher = this.byName.get(notice.name);
      if (this.options.readsElsewhere) watcher?.announce(notice.position);
      else watcher?.advance(notice.position);
    });
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client, new Error("connection ended")));
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.channel)}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.connectedNow = true;
    if (this.attempt > 0)
      this.options.logger.info({ channel: this.channel }, "listening for projection checkpoints again");
    this.attempt = 0;
    await Promise.all([...this.byName.values()].map((w) => w.refresh()));
  }

  private lost(client: pg.Client, error: unknown): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    this.connectedNow = false;
    this.options.logger.warn({ err: error }, "lost the Postgres notification connection; reconnecting");
    client.removeAllListeners("notification");
    void client.end().catch(() => {});
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer) return;
    const delay = backoffDelay(this.attempt++, { baseMs: 100, maxMs: 2_000, jitter: "none" });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect().catch((error: unknown) => {
        this.options.logger.debug({ err: error }, "Postgres notification reconnect failed");
        this.scheduleReconnect();
      });
    }, delay);
  }
}

export interface RedisNotificationsOptions {
  /** A connection of its own: it is put into subscriber mode. */
  readonly subscriber: Redis;
  readonly channel: string;
  readonly watcher: PositionWatcher;
  readonly logger: Logger;
}

/**
 * SUBSCRIBEs to the customer_orders checkpoint channel. ioredis reconnects and re-subscribes by itself; every
 * `ready` after the first re-reads the checkpoint, since messages published meanwhile are lost.
 */
export class RedisCheckpointNotifications {
  private readonly onMessage = (channel: string, message: string) => {
    if (channel !== this.options.channel || !/^\d{1,16}$/.test(message)) return;
    this.options.watcher.advance(Number(message));
  };
  private readonly onReady = () => {
    if (!this.started) return;
    this.options.logger.info({ channel: this.options.channel }, "subscribed to customer_orders checkpoints again");
    void this.options.watcher.refresh();
  };
  private readonly onError = (error: unknown) => {
    this.options.logger.debug({ err: error }, "Redis subscriber error");
  };
  private started = false;

  constructor(private readonly options: RedisNotificationsOptions) {}

  get connected(): boolean {
    return this.options.subscriber.status === "ready";
  }

  async start(): Promise<void> {
    const { subscriber } = this.options;
    subscriber.on("message", this.onMessage);
    subscriber.on("ready", this.onReady);
    subscriber.on("error", this.onError);
    if (subscriber.status === "wait") await subscriber.connect();
    await subscriber.subscribe(this.options.channel);
    this.started = true;
  }

  async close(): Promise<void> {
    const { subscriber } = this.options;
    subscriber.off("message", this.onMessage);
    subscriber.off("ready", this.onReady);
    subscriber.disconnect();
    subscriber.off("error", this.onError);
  }
}
