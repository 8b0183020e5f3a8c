import { headers } from "@orderly/event-bus";
import { describe, expect, it } from "vitest";
import { EventHeaderRenderer } from "./event-headers.js";
import { HeaderSlab, renderHeaders } from "./jetstream-publisher.js";

const eventId = "6f1c3f3e-6a55-4e43-9d6b-1c2f0e0b9c11";
const streamId = `order-${eventId}`;
const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("EventHeaderRenderer", () => {
  const renderer = new EventHeaderRenderer(headers);
  const slab = new HeaderSlab();

  it("renders what renderHeaders renders for the same entries (which is what nats.js MsgHdrs writes)", () => {
    for (const trace of [traceparent, null, ""]) {
      const entries: [string, string][] = [
        [headers.msgId, eventId],
        [headers.position, "42"],
        [headers.stream, streamId],
        [headers.type, "OrderPlaced"],
        [headers.committedAt, "1764136800123"],
      ];
      if (trace) entries.push([headers.traceparent, trace]);
      entries.push(["Nats-Expected-Last-Sequence", "41"]);
      const text = renderer.render(eventId, "42", streamId, "OrderPlaced", "1764136800123", trace, 41);
      expect(Buffer.from(slab.encode(text).encode()).toString("hex")).toBe(
        Buffer.from(renderHeaders(entries).encode()).toString("hex"),
      );
    }
  });

  it("refuses CR or LF in the free-text values", () => {
    const render = (stream: string, type: string, trace: string | null) => () =>
      renderer.render(eventId, "1", stream, type, "0", trace, 0);
    expect(render(`${streamId}\r\nNats-Msg-Id: forged`, "OrderPlaced", null)).toThrow(/CR or LF/);
    expect(render(streamId, "OrderPlaced\n", null)).toThrow(/CR or LF/);
    expect(render(streamId, "OrderPlaced", `${traceparent}\r`)).toThrow(/CR or LF/);
  });
});

describe("HeaderSlab", () => {
  it("keeps every block intact across slabs, non-ASCII included", () => {
    const slab = new HeaderSlab();
    const texts = Array.from(
      { length: 5_000 },
      (_, i) => `NATS/1.0\r\nOrderly-Stream: order-ü-${"x".repeat(i % 300)}-${i}\r\n\r\n`,
    );
    const blocks = texts.map((text) => slab.encode(text));
    expect(texts.reduce((n, t) => n + t.length, 0)).toBeGreaterThan(512 * 1024);
    for (const [i, text] of texts.entries())
      expect(Buffer.from((blocks[i] as { encode(): Uint8Array }).encode()).toString()).toBe(text);
  });
});
