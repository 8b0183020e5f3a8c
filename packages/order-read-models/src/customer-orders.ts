import type { PartitionSpec, Position, RecordedEvent } from "@orderly/eventsourcing";
import { WHOLE } from "@orderly/eventsourcing";
import {
  type CheckpointMark,
  CheckpointMovedError,
  type Logger,
  type Projection,
  silentLogger,
  sleep,
  type UnknownEventPolicy,
} from "@orderly/projector";
import type { Redis } from "ioredis";
import type pg from "pg";
import { applyToGeneration, partitionSuffix, writeCustomerOrdersCheckpoint } from "./customer-orders-apply.js";
import { auditGeneration, checkGenerationCounts, RollingAudit } from "./customer-orders-integrity.js";
import { customerOrdersKeys } from "./customer-orders-keys.js";
import { initGeneration } from "./customer-orders-layout.js";
import { type ScriptRedis, withScripts } from "./customer-orders-scripts.js";
import { dropGenerationKeys, unlinkKeysNamedLike } from "./customer-orders-walk.js";
import { checkPartition, PartitionLayoutError, partitionCheckpointName } from "./partitions.js";
import { SummaryCache } from "./summary-cache.js";
import { CUSTOMER_ORDERS } from "./versions.js";

export interface CustomerOrdersProjectionOptions {
  readonly namespace: string;
  /** Where the high-water mark of the Redis checkpoint is kept, to notice lost data across restarts. */
  readonly pool?: pg.Pool;
  readonly logger?: Logger;
  /** Called when lost data was noticed (metrics): all of it (pointer or checkpoint gone) or part of the keys. */
  readonly onDataLost?: (reason: string, kind: "total" | "partial") => void;
  /**
   * How often the partial-loss check runs, idle or busy (default 5,000 ms): the O(1) part, and this run's share of the
   * rolling audit.
   */
  readonly checkIntervalMs?: number;
  /**
   * Every key of the generation is audited once per pass, spread over the checks (default 60,000 ms; 0: only the O(1)
   * part, no audit). A whole pass runs at start. Bound on detecting any partial loss: `auditPassMs + checkIntervalMs`.
   */
  readonly auditPassMs?: number;
  /** Summaries kept from this writer's own batches (default 100,000; 0 reads every touched hash back). */
  readonly cacheSize?: number;
  /** The event store's id, recorded with every checkpoint (`StoreContinuity.knownStoreId`); none when unknown. */
  readonly storeId?: () => string | undefined;
  /** What an event type this code does not know does (PROJECTOR_UNKNOWN_EVENT_TYPES; default: stop at it). */
  readonly unknownTypes?: UnknownEventPolicy;
  /** The partition this writer applies (default the whole read model; ADR 0019). */
  readonly partition?: PartitionSpec;
}

/**
 * The `customer_orders` projection in Redis. Batch and checkpoint are written by one Lua script (atomic) which also
 * PUBLISHes the checkpoint. Redis runs without persistence here: when the pointer or checkpoint vanished, or went
 * below what this projector (or its predecessor, via a high-water mark in Postgres) wrote, or part of the generation's
 * keys vanished (customer-orders-integrity.ts), it starts a fresh generation at 0 and the runtime replays from the
 * event store.
 */
export class CustomerOrdersProjection implements Projection {
  readonly name: string;
  private readonly partition: PartitionSpec;
  private readonly suffix: string;
  private readonly redis: ScriptRedis;
  private readonly keys: ReturnType<typeof customerOrdersKeys>;
  private readonly log: Logger;
  private gen: string | undefined;
  private written: Position = 0;
  private highWaterWritten = -1;
  private highWaterAt = 0;
  private checkedAt = 0;
  private startAudited = false;
  /** A damaged generation to sweep once the replay has passed `after` (its checkpoint when it was found damaged). */
  private sweep: { gen: string; after: Position } | undefined;
  private readonly audit: RollingAudit;
  private readonly cache: SummaryCache;

  constructor(
    redis: Redis,
    private readonly options: CustomerOrdersProjectionOptions,
  ) {
    this.cache = new SummaryCache(options.cacheSize ?? 100_000);
    this.partition = checkPartition(options.partition ?? WHOLE);
    this.suffix = partitionSuffix(this.partition.index);
    this.name = partitionCheckpointName(CUSTOMER_ORDERS, this.partition.index);
    this.redis = withScripts(redis);
    this.keys = customerOrdersKeys(options.namespace);
    this.log = options.logger ?? silentLogger;
    this.audit = new RollingAudit(options.auditPassMs ?? 60_000, options.checkIntervalMs ?? 5_000);
  }

  get generation(): string | undefined {
    return this.gen;
  }

  async checkpoint(): Promise<Position> {
    const [gen, hw] = await Promise.all([this.redis.get(this.keys.current), this.readHighWater()]);
    const known = Math.max(hw, this.written);
    if (gen === null) return this.lost(known > 0 ? "generation pointer vanished" : undefined);
    const [parts, raw] = await this.redis.mget(
      `${this.keys.generation(gen)}:partitions`,
      `${this.keys.generation(gen)}:checkpoint${this.suffix}`,
    );
    const stored = Number(parts ?? 1);
    if (stored !== this.partition.count) throw new PartitionLayoutError(CUSTOMER_ORDERS, stored, this.partition.count);
    if (raw === null || raw === undefined) return this.lost("checkpoint vanished", gen);
    const cp = Number(raw);
    if (gen === this.gen && cp < this.written) return this.lost(`checkpoint went back to ${cp}`, gen);
    // A generation another partition's writer started while this one ran (it found data lost) is adopted: starting yet
    // another would undo that writer's replay, once per partition.
    const adopted = this.partition.count > 1 && this.gen !== undefined && gen !== this.gen;
    if (gen !== this.gen && cp < hw && !adopted) {
      return this.lost(`checkpoint ${cp} is below the high-water mark ${hw}`, gen);
    }
    if (gen !== this.gen || cp !== this.written) this.cache.clear();
    this.gen = gen;
    this.written = cp;
    const missing = await this.missingKeys(gen);
    if (missing !== undefined) return this.lost(missing, gen, "partial");
    this.recordHighWater(cp);
    return cp;
  }

  /** The live generation's checkpoint with the event it stands on (read atomically with it). */
  async checkpointMark(): Promise<CheckpointMark> {
    const [position, eventId, storeId] = await this.redis.orderlyMark(this.keys.prefix, this.suffix);
    return { position: Number(position), eventId: eventId || undefined, storeId: storeId || undefined };
  }

  /**
   * Part of the generation's keys gone (see customer-orders-integrity.ts), when the check is due: the O(1) part, then
   * this run's share of the rolling audit (the whole generation on the first run after start).
   */
  private async missingKeys(gen: string): Promise<string | undefined> {
    const now = Date.now();
    const interval = this.options.checkIntervalMs ?? 5_000;
    if (this.startAudited && now - this.checkedAt < interval) return undefined;
    this.checkedAt = now;
    const g = this.keys.generation(gen);
    const cheap = await checkGenerationCounts(this.redis, g);
    const whole = !this.startAudited;
    this.startAudited = true;
    if (cheap.problem !== undefined) return cheap.problem;
    if ((this.options.auditPassMs ?? 60_000) <= 0) return undefined;
    return this.audit.run(this.redis, g, cheap.customers, whole);
  }

  async apply(events: readonly RecordedEvent[], after: Position): Promise<void> {
    if (this.gen === undefined) await this.checkpoint();
    const missing = await this.missingKeys(this.gen as string);
    if (missing !== undefined) {
      const actual = await this.lost(missing, this.gen, "partial");
      throw new CheckpointMovedError(this.name, after, actual, "redis lost part of its keys");
    }
    for (;;) {
      const [outcome, value] = await applyToGeneration(
        this.redis,
        this.keys,
        this.gen as string,
        events,
        after,
        "live",
        this.cache,
        this.options.storeId?.() ?? "",
        (absent) => this.hashesAbsent(absent, after),
        this.options.unknownTypes,
        this.partition,
      );
      if (outcome === "ok") {
        this.written = Number(value);
        this.recordHighWater(this.written);
        if (this.sweep !== undefined && this.written >= this.sweep.after) {
          const broken = this.sweep.gen;
          this.sweep = undefined;
          void this.sweepOrphans(broken);
        }
        return;
      }
      if (outcome === "paused") {
        await sleep(5);
        continue;
      }
      if (outcome === "moved" && value !== "") {
        // A rebuild swapped generations: continue from the new generation's checkpoint.
        this.gen = value;
        const raw = await this.redis.get(`${this.keys.generation(value)}:checkpoint${this.suffix}`);
        this.written = Number(raw ?? 0);
        throw new CheckpointMovedError(this.name, after, this.written, `generation swapped to g${value}`);
      }
      if (outcome === "layout") throw new PartitionLayoutError(CUSTOMER_ORDERS, Number(value), this.partition.count);
      const cp = value === "" ? -1 : Number(value);
      if (outcome === "moved" || cp < after) {
        const actual = await this.lost(
          outcome === "moved" ? "generation pointer vanished" : `checkpoint ${value || "vanished"}`,
          this.gen,
          "total",
        );
        throw new CheckpointMovedError(this.name, after, actual, "redis lost data");
      }
      this.written = cp;
      throw new CheckpointMovedError(this.name, after, cp, "another writer moved the checkpoint");
    }
  }

  /**
   * Orders of this batch that were placed before it have no hash. When the generation's audit confirms keys vanished,
   * that is a partial loss: start over (instead of stopping at the event as poison). When the audit finds the
   * generation whole, the event log itself lacks the OrderPlaced, and the fold reports the event as poison.
   */
  private async hashesAbsent(orderIds: readonly string[], after: Position): Promise<void> {
    const audit = await auditGeneration(this.redis, this.keys.generation(this.gen as string));
    if (audit.problem === undefined) return;
    const actual = await this.lost(`order ${orderIds[0]}'s hash vanished (${audit.problem})`, this.gen, "partial");
    throw new CheckpointMovedError(this.name, after, actual, "redis lost part of its keys");
  }

  isTransient(error: unknown): boolean {
    const message = error instanceof Error ? error.message : String(error);
    return /connect|ECONN|EPIPE|closed|timeout|LOADING|BUSY|MASTERDOWN|max retries/i.test(message);
  }

  /** Starts a fresh generation at 0 (the runtime then replays from the event store) and drops the broken one. */
  private async lost(
    reason: string | undefined,
    brokenGen?: string,
    kind: "total" | "partial" = "total",
  ): Promise<Position> {
    let gen = String(Date.now());
    if (gen === brokenGen) gen = String(Date.now() + 1);
    await initGeneration(this.redis.multi(), this.keys.generation(gen), this.partition.count).exec();
    await writeCustomerOrdersCheckpoint(this.redis, this.keys, gen, { position: 0, eventId: undefined });
    await this.redis.set(this.keys.current, gen);
    if (reason !== undefined && kind === "partial") {
      this.log.error(
        { projection: this.name, reason, generation: gen, broken: brokenGen },
        `redis lost part of ${this.name}'s keys (${reason}): rebuilding it from the event store in generation ` +
          `g${gen}; find what deletes or evicts keys (maxmemory-policy must be noeviction; ADR 0007)`,
      );
      this.options.onDataLost?.(reason, kind);
    } else if (reason !== undefined) {
      this.log.warn(
        { projection: this.name, reason, generation: gen },
        "redis lost data: rebuilding from the event store",
      );
      this.options.onDataLost?.(reason, kind);
    }
    if (brokenGen !== undefined && brokenGen !== gen) {
      void this.dropGeneration(brokenGen);
      // A damaged generation may keep hashes its index no longer leads to (their list entry vanished): once the
      // replay has written every order the broken one had, sweep its keys by the new generation's order ids.
      if (kind === "partial") this.sweep = { gen: brokenGen, after: Math.max(this.written, 1) };
    }
    this.gen = gen;
    this.written = 0;
    this.cache.clear();
    this.highWaterWritten = -1;
    this.recordHighWater(0);
    this.checkedAt = Date.now();
    return 0;
  }

  /** The keys of damaged generation `broken` named after the live generation's orders and customers (best effort). */
  private async sweepOrphans(broken: string): Promise<void> {
    try {
      const removed = await unlinkKeysNamedLike(
        this.redis,
        this.keys.generation(this.gen as string),
        this.keys.generation(broken),
      );
      if (removed > 0)
        this.log.info({ generation: broken, removed }, "swept keys the damaged generation's index had lost");
    } catch (error) {
      this.log.warn({ err: error, generation: broken }, "could not sweep a damaged generation");
    }
  }

  async dropGeneration(gen: string): Promise<void> {
    try {
      await dropGenerationKeys(this.redis, this.keys.generation(gen));
    } catch (error) {
      this.log.warn({ err: error, generation: gen }, "could not drop a generation");
    }
  }

  /** `customer_orders.high_water` (partition 0, as before partitions), `customer_orders.high_water.p<i>`. */
  private get highWaterName(): string {
    return `${CUSTOMER_ORDERS}.high_water${this.partition.index === 0 ? "" : `.p${this.partition.index}`}`;
  }

  private async readHighWater(): Promise<Position> {
    if (!this.options.pool) return 0;
    const result = await this.options.pool.query<{ position: number | string }>(
      "select position from projection_checkpoints where name = $1",
      [this.highWaterName],
    );
    return Number(result.rows[0]?.position ?? 0);
  }

  /** At most once a second (and always when it goes down): the durable memory of how far Redis got. */
  private recordHighWater(position: Position): void {
    const pool = this.options.pool;
    if (!pool || position === this.highWaterWritten) return;
    if (position > this.highWaterWritten && Date.now() - this.highWaterAt < 1000) return;
    this.highWaterAt = Date.now();
    this.highWaterWritten = position;
    pool
      .query(
        `insert into projection_checkpoints (name, position) values ($1, $2)
         on conflict (name) do update set position = excluded.position, updated_at = now()`,
        [this.highWaterName, position],
      )
      .catch((error: unknown) => {
        this.highWaterWritten = -1;
        this.log.warn({ err: error }, "could not record the high-water mark");
      });
  }
}
