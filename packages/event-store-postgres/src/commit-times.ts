import type pg from "pg";

/**
 * Commit times from the event store's `events` table (the query service's \`CommitTimes\` port: its lag clock and
 * command-to-visible latency).
 */
export class PostgresCommitTimes {
  constructor(private readonly pool: pg.Pool) {}

  async committedAt(positions: readonly number[]): Promise<Map<number, Date>> {
    const result = new Map<number, Date>();
    if (positions.length === 0) return result;
    const { rows } = await this.pool.query<{ position: string; committed_at: Date }>({
      name: "query-service-commit-times",
      text: "select position, committed_at from events where position = any($1::bigint[])",
      values: [positions],
    });
    for (const row of rows) result.set(Number(row.position), row.committed_at);
    return result;
  }
}
