import { headers as natsHeaders } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { renderHeaders } from "./jetstream-publisher.js";

describe("renderHeaders", () => {
  it("produces exactly what nats.js MsgHdrs would put on the wire", () => {
    const entries: [string, string][] = [
      ["Nats-Msg-Id", "6f1c3f3e-6a55-4e43-9d6b-1c2f0e0b9c11"],
      ["Orderly-Position", "42"],
      ["Orderly-Stream", "order-6f1c3f3e-6a55-4e43-9d6b-1c2f0e0b9c11"],
      ["Orderly-Type", "OrderPlaced"],
      ["traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
      ["Nats-Expected-Last-Sequence", "41"],
    ];
    const reference = natsHeaders();
    for (const [k, v] of entries) reference.set(k, v);
    expect(Buffer.from(renderHeaders(entries).encode()).toString()).toBe(
      Buffer.from((reference as unknown as { encode(): Uint8Array }).encode()).toString(),
    );
  });

  it("refuses values that would break the header block", () => {
    expect(() => renderHeaders([["traceparent", "00-x\r\nNats-Msg-Id: forged"]])).toThrow(/CR or LF/);
  });
});
