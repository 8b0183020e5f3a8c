import type { PartitionSpec, Position } from "@orderly/eventsourcing";
import type pg from "pg";

/**
 * The checkpoint row (Postgres) or key suffix (Redis) of one partition: partition 0 keeps the read model's own name,
 * so an unpartitioned read model (1 partition) is laid out exactly as before partitions existed.
 */
export function partitionCheckpointName(base: string, index: number): string {
  return index === 0 ? base : `${base}.p${index}`;
}

/** A read model is laid out for another partition count than the process was started with. */
export class PartitionLayoutError extends Error {
  constructor(
    readonly readModel: string,
    readonly stored: number,
    readonly wanted: number,
  ) {
    super(
      `${readModel} is laid out for ${stored} partition(s), but PROJECTOR_PARTITIONS=${wanted}: changing the count ` +
        `needs a rebuild — run the projector's \`rebuild\` command with PROJECTOR_PARTITIONS=${wanted} (stop the ` +
        `instances running with ${stored} first), or start it with PROJECTOR_PARTITIONS=${stored}`,
    );
    this.name = "PartitionLayoutError";
  }
}

/**
 * Makes sure `projection_checkpoints` holds one row per partition of read model `base` split `count` ways, and refuses
 * (PartitionLayoutError) a read model laid out for another count that has applied anything. A fresh read model (no
 * row, or every row at 0) is laid out for `count`. One transaction, the base row locked: instances starting together
 * agree.
 */
export async function ensurePostgresLayout(pool: pg.Pool, base: string, count: number, version: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query(
      "insert into projection_checkpoints (name, position, version, partitions) values ($1, 0, $2, $3) on conflict (name) do nothing",
      [base, version, count],
    );
    const rows = await client.query<{ name: string; position: string | number; partitions: number }>(
      `select name, position, partitions from projection_checkpoints
        where name = $1 or starts_with(name, $1 || '.p') for update`,
      [base],
    );
    const stored = rows.rows.find((r) => r.name === base)?.partitions ?? count;
    const names = new Set(rows.rows.map((r) => r.name));
    const complete = Array.from({ length: count }, (_, i) => partitionCheckpointName(base, i)).every((n) =>
      names.has(n),
    );
    if (stored !== count || !complete) {
      const applied = rows.rows.some((r) => Number(r.position) > 0);
      if (applied && stored !== count) throw new PartitionLayoutError(base, stored, count);
      if (applied)
        throw new Error(
          `${base}: partition checkpoint rows are missing; rebuild it (the projector's \`rebuild\` command)`,
        );
      await layOut(client, base, count, { position: 0, eventId: undefined, storeId: undefined });
    }
    await client.query("commit");
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Lays read model `base` out for `count` partitions, every partition at `mark` (inside the caller's transaction): the
 * base row moves to it and records the count, the other partitions' rows are created at it, rows of partitions past
 * `count` are deleted. Every row's epoch is bumped, so a writer of the old layout fails its compare-and-set.
 */
export async function layOut(
  client: Pick<pg.PoolClient, "query">,
  base: string,
  count: number,
  mark: { readonly position: Position; readonly eventId: string | undefined; readonly storeId?: string | undefined },
): Promise<void> {
  await client.query("delete from projection_checkpoints where starts_with(name, $1 || '.p')", [base]);
  await client.query(
    `update projection_checkpoints set position = $2, event_id = $3::uuid, store_id = $4::uuid, partitions = $5,
       epoch = epoch + 1, updated_at = now() where name = $1`,
    [base, mark.position, mark.eventId ?? null, mark.storeId ?? null, count],
  );
  if (count > 1) {
    await client.query(
      `insert into projection_checkpoints (name, position, event_id, store_id, version, epoch, partitions)
       select $1 || '.p' || i, b.position, b.event_id, b.store_id, b.version, b.epoch, b.partitions
         from projection_checkpoints b, generate_series(1, $2::int - 1) as i where b.name = $1`,
      [base, count],
    );
  }
}

/** A read model's position: the lowest checkpoint over its partitions (SQL for a reader; $1 = the base name). */
export const MIN_CHECKPOINT_SQL =
  "select min(position) as position from projection_checkpoints where name = $1 or starts_with(name, $1 || '.p')";

/** The partition a spec names, checked against its count. */
export function checkPartition(spec: PartitionSpec): PartitionSpec {
  if (!Number.isSafeInteger(spec.count) || spec.count < 1 || spec.index < 0 || spec.index >= spec.count) {
    throw new RangeError(`bad partition ${spec.index} of ${spec.count}`);
  }
  return spec;
}
