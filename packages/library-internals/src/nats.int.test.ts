import { connect } from "@nats-io/transport-node";
import { withTestEnvironment } from "@orderly/testing";
import { describe, expect, it } from "vitest";
import { publishHeaders } from "./nats.js";

// The raw header reader (`headersOf`) is checked against nats.js's own parsing on JetStream messages in
// packages/projector/src/projector-jetstream.int.test.ts.
describe("nats.js internals", () => {
  it("publishes a header block already in wire form where a MsgHdrs is typed", () =>
    withTestEnvironment(async (env) => {
      const nc = await connect({ servers: env.natsUrl });
      try {
        const subject = `${env.namespace}.internals`;
        const sub = nc.subscribe(subject, { max: 1 });
        const block = Buffer.from("NATS/1.0\r\nOrderly-Position: 42\r\nNats-Msg-Id: e-1\r\nX-Unicode: ä€\r\n\r\n");
        nc.publish(subject, new Uint8Array([1]), { headers: publishHeaders({ encode: () => block }) });
        for await (const m of sub) {
          expect(m.headers?.get("Orderly-Position")).toBe("42");
          expect(m.headers?.get("Nats-Msg-Id")).toBe("e-1");
          expect(m.headers?.get("X-Unicode")).toBe("ä€");
          expect([...m.data]).toEqual([1]);
        }
        expect(sub.getProcessed()).toBe(1);
      } finally {
        await nc.close();
      }
    }));
});
