import { describe, expect, it } from "vitest";
import { emptyStoredEventText, readStoredEventColumns, type StoredEventColumns } from "./stored-event-text.js";
import { Upcasters } from "./upcasters.js";

const row = (data: string, schemaVersion: string | null): StoredEventColumns => [
  "7",
  "event-7",
  "thing-1",
  "3",
  "ThingHappened",
  data,
  "command-1",
  "correlation-1",
  "causation-1",
  null,
  "1796637600999",
  "1796637601000",
  null,
  schemaVersion,
];

describe("readStoredEventColumns", () => {
  it("fills a StoredEventText from a row of text columns, version 1 when none was recorded", () => {
    expect(readStoredEventColumns(row('{"n": 1}', null), emptyStoredEventText())).toEqual({
      position: "7",
      eventId: "event-7",
      streamId: "thing-1",
      streamVersion: "3",
      type: "ThingHappened",
      data: '{"n": 1}',
      commandId: "command-1",
      correlationId: "correlation-1",
      causationId: "causation-1",
      traceparent: null,
      occurredAtMs: "1796637600999",
      committedAtMs: "1796637601000",
      actor: null,
      schemaVersion: 1,
    });
  });

  it("upcasts an older payload (and parses it only then), in place", () => {
    const upcasters = new Upcasters().register("ThingHappened", 1, (d) => ({ ...(d as object), m: 2 }));
    const into = emptyStoredEventText();
    const filled = readStoredEventColumns(row('{"n": 1}', "1"), into, upcasters);
    expect(filled).toBe(into);
    expect(filled).toMatchObject({ data: '{"n":1,"m":2}', schemaVersion: 2 });
    expect(readStoredEventColumns(row("not json", "2"), into, upcasters)).toMatchObject({ data: "not json" });
  });
});
