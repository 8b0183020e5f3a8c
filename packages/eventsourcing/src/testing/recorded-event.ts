import type { EventMetadata, RecordedEvent } from "../event.js";

/**
 * A recorded event at `position` for the runtime's tests: type "Happened" of stream `s-<position % 7>`, fixed ids,
 * occurred and committed at the epoch. `fields` and `metadata` replace what a test needs otherwise.
 */
export function testRecordedEvent(
  position: number,
  fields: Partial<Omit<RecordedEvent, "metadata">> = {},
  metadata: Partial<EventMetadata> = {},
): RecordedEvent {
  return {
    type: "Happened",
    data: { n: position },
    streamId: `s-${position % 7}`,
    streamVersion: 1,
    position,
    metadata: {
      eventId: `e-${position}`,
      commandId: "c",
      correlationId: "c",
      causationId: "c",
      occurredAt: new Date(0),
      ...metadata,
    },
    committedAt: new Date(0),
    ...fields,
  };
}
