import { fnv1a32 } from "@orderly/eventsourcing";
import type { Logger } from "@orderly/observability";
import pg from "pg";

/** What the leases drive: start applying a partition once its lease is held, stop before it is released. */
export interface PartitionHolder {
  acquired(index: number): Promise<void>;
  /** Resolves once nothing of the partition is applied any more (its batch in flight committed or dropped). */
  released(index: number): Promise<void>;
}

export interface PartitionLeasesOptions {
  /** The database whose session advisory locks are the leases (the read model's). */
  readonly connectionString: string;
  /** Names the lock space: `<namespace>/<projection>/<count>`; instances of another count never share a lease. */
  readonly scope: string;
  readonly partitions: number;
  readonly intervalMs: number;
  readonly holder: PartitionHolder;
  readonly logger: Logger;
  /** Called after every look at the leases with the partitions held (metrics). */
  readonly onChange?: (held: readonly number[]) => void;
}

/** Lock key 2 of the membership lock every instance holds shared (partition leases use 0 … N − 1). */
const MEMBER = 0x7fffffff;

/**
 * Partition leases as Postgres session advisory locks (ADR 0019). Every instance holds a shared "member" lock and an
 * exclusive lock per partition it applies, on one connection of its own: a killed instance's connection ends and the
 * server releases its locks, and the others take its partitions on their next look. Each look (every `intervalMs`)
 * counts the members and gives each its share (N / members, the first N mod members by backend pid one more): an
 * instance over its share stops and releases partitions, one under it claims free ones. A lease only decides who
 * applies; the checkpoint's compare-and-set still fences a stale owner (one that lost its connection but not yet its
 * batch), so nothing is applied twice.
 */
export class PartitionLeases {
  private client: pg.Client | undefined;
  private readonly key: number;
  private readonly held = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private connectedNow = false;

  constructor(private readonly options: PartitionLeasesOptions) {
    this.key = fnv1a32(`orderly-partitions/${options.scope}`) & 0x7fffffff;
  }

  /** Connected to the lease database (readiness). */
  get connected(): boolean {
    return this.connectedNow;
  }

  get partitionsHeld(): readonly number[] {
    return [...this.held].sort((a, b) => a - b);
  }

  async start(): Promise<void> {
    await this.look();
    this.schedule();
  }

  /** Stops every partition this instance applies, then releases the leases (the others take them at once). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
    await this.releaseAll();
    const client = this.client;
    this.client = undefined;
    this.connectedNow = false;
    await client?.end().catch(() => undefined);
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.running = this.look().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  private async look(): Promise<void> {
    try {
      const client = await this.connection();
      await this.rebalance(client);
    } catch (error) {
      if (this.closed) return;
      // The connection is gone, and with it (server side) every lease: stop applying before anyone else starts.
      this.options.logger.warn({ err: error, held: this.partitionsHeld }, "partition leases lost; reconnecting");
      const client = this.client;
      this.client = undefined;
      this.connectedNow = false;
      await client?.end().catch(() => undefined);
      await this.releaseAll(false);
    }
    this.options.onChange?.(this.partitionsHeld);
  }

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: `orderly partition leases ${this.options.scope}`,
    });
    client.on("error", (error) => {
      this.options.logger.warn({ err: error }, "partition lease connection failed");
    });
    await client.connect();
    await client.query("select pg_advisory_lock_shared($1, $2)", [this.key, MEMBER]);
    this.client = client;
    this.connectedNow = true;
    return client;
  }

  /** This instance's share of the partitions, from the members' backend pids (the same answer in every instance). */
  private async share(client: pg.Client): Promise<number> {
    const result = await client.query<{ pids: number[]; me: number }>(
      `select array_agg(pid order by pid) as pids, pg_backend_pid() as me from pg_locks
        where locktype = 'advisory' and classid = $1::int4::oid and objid = $2::int4::oid and objsubid = 2 and granted
          and database = (select oid from pg_database where datname = current_database())`,
      [this.key, MEMBER],
    );
    const row = result.rows[0];
    return shareOf(row?.pids ?? [], row?.me ?? -1, this.options.partitions);
  }

  private async rebalance(client: pg.Client): Promise<void> {
    const share = await this.share(client);
    // Over the share: stop applying, then release (highest first).
    for (const index of [...this.partitionsHeld].reverse()) {
      if (this.held.size <= share || this.closed) break;
      await this.release(client, index);
    }
    if (this.closed) return;
    // Under it: claim free partitions, starting at a spot of this instance's own so that instances do not all race
    // for partition 0.
    const n = this.options.partitions;
    const offset = (await client.query<{ me: number }>("select pg_backend_pid() as me")).rows[0]?.me ?? 0;
    for (let k = 0; k < n && this.held.size < share && !this.closed; k++) {
      const index = (offset + k) % n;
      if (this.held.has(index)) continue;
      const got = await client.query<{ ok: boolean }>("select pg_try_advisory_lock($1, $2) as ok", [this.key, index]);
      if (got.rows[0]?.ok !== true) continue;
      this.held.add(index);
      this.options.logger.info({ partition: index, partitions: n }, "partition lease acquired");
      try {
        await this.options.holder.acquired(index);
      } catch (error) {
        this.options.logger.error({ err: error, partition: index }, "could not start a partition; releasing it");
        await this.release(client, index);
      }
    }
  }

  private async release(client: pg.Client | undefined, index: number): Promise<void> {
    try {
      await this.options.holder.released(index);
    } finally {
      this.held.delete(index);
      if (client) await client.query("select pg_advisory_unlock($1, $2)", [this.key, index]).catch(() => undefined);
      this.options.logger.info({ partition: index }, "partition lease released");
    }
  }

  private async releaseAll(unlock = true): Promise<void> {
    for (const index of this.partitionsHeld) await this.release(unlock ? this.client : undefined, index);
  }
}

/**
 * How many of `partitions` the member `me` should hold when `members` (backend pids, sorted) hold the member lock:
 * an even share, the first `partitions mod members` by pid one more. Every member computes the same split, so they
 * converge without talking; a member not (yet) listed counts as the first.
 */
export function shareOf(members: readonly number[], me: number, partitions: number): number {
  const count = Math.max(1, members.length);
  const rank = Math.max(0, members.indexOf(me));
  return Math.floor(partitions / count) + (rank < partitions % count ? 1 : 0);
}
