import {
  type AppendRequest,
  type CommandOutcome,
  IdempotencyKeyReusedError,
  VersionConflictError,
} from "@orderly/eventsourcing";

// The `orderly_append` call of a group commit: its statement, the queued appends it carries and the row it returns
// for each of them.

export interface PendingAppend {
  readonly request: AppendRequest;
  /**
   * The events' data (JSON) and occurred-at, as array literal elements, made when the append was called: a value that
   * cannot be serialised fails only its own caller, not the batch.
   */
  readonly data: readonly string[];
  readonly occurredAt: readonly string[];
  readonly resolve: (outcome: CommandOutcome) => void;
  readonly reject: (error: unknown) => void;
}

export interface AppendRow {
  r_status: number;
  r_stream_version: number | null;
  r_position: number | null;
  r_command_id: string | null;
  r_stream_id: string | null;
}

export const APPEND_SQL =
  "select * from orderly_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

const STATUS_APPENDED = 0;
const STATUS_DUPLICATE = 1;
const STATUS_KEY_REUSED = 2;
const STATUS_CONFLICT = 3;

/** Settles one queued append with its row of `orderly_append`'s result. */
export function settle(pending: PendingAppend, row: AppendRow): void {
  const request = pending.request;
  switch (row.r_status) {
    case STATUS_APPENDED:
    case STATUS_DUPLICATE:
      pending.resolve({
        commandId: row.r_command_id as string,
        streamId: row.r_stream_id as string,
        streamVersion: row.r_stream_version as number,
        position: row.r_position as number,
        duplicate: row.r_status === STATUS_DUPLICATE,
      });
      return;
    case STATUS_KEY_REUSED:
      pending.reject(new IdempotencyKeyReusedError(request.idempotency?.key ?? ""));
      return;
    case STATUS_CONFLICT: {
      const actual = row.r_stream_version ?? 0;
      pending.reject(
        new VersionConflictError(request.streamId, request.expectedVersion, actual === 0 ? "no_stream" : actual),
      );
      return;
    }
    default:
      pending.reject(new Error(`orderly_append returned unknown status ${row.r_status}`));
  }
}
