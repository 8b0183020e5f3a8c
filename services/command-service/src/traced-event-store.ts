import type { AppendRequest, CommandOutcome, Event, EventStore } from "@orderly/eventsourcing";
import { contextOf, recordSharedSpan, recordSpan, SpanKind, type Tracer } from "@orderly/observability";
import { AppendWrapper } from "./append-wrapper.js";

/**
 * The store as the pipeline sees it, with a span per append ("event store append": queueing for the group commit
 * and the commit itself) below the call's SERVER span, which the events carry as their traceparent (to-command.ts).
 * Only composed when tracing is on.
 */
export class TracedEventStore extends AppendWrapper {
  constructor(
    inner: EventStore,
    private readonly tracer: Tracer,
  ) {
    super(inner);
  }

  async append<E extends Event>(request: AppendRequest<E>): Promise<CommandOutcome> {
    const traceparent = request.events[0]?.metadata.traceparent;
    if (!traceparent) return this.inner.append(request);
    const startTime = Date.now();
    const parent = contextOf(traceparent);
    const attributes = { "orderly.stream_id": request.streamId, "orderly.events": request.events.length };
    try {
      const outcome = await this.inner.append(request);
      recordSpan(
        this.tracer,
        {
          name: "event store append",
          startTime,
          attributes: { ...attributes, "orderly.position": outcome.position, "orderly.duplicate": outcome.duplicate },
        },
        parent,
      );
      return outcome;
    } catch (error) {
      recordSpan(
        this.tracer,
        {
          name: "event store append",
          startTime,
          attributes,
          error: error instanceof Error ? error.name : String(error),
        },
        parent,
      );
      throw error;
    }
  }
}

/** The store's group-commit hook: one span per transaction, below the first command's span, linked to the others. */
export function traceGroupCommit(
  tracer: Tracer,
): (traceparents: readonly (string | undefined)[], startedAt: number, failed: boolean) => void {
  return (traceparents, startedAt, failed) =>
    recordSharedSpan(
      tracer,
      {
        name: "event store group commit",
        kind: SpanKind.CLIENT,
        startTime: startedAt,
        attributes: { "db.system": "postgresql", "orderly.batch.commands": traceparents.length },
        error: failed ? "append transaction failed" : undefined,
      },
      traceparents,
    );
}
