import { describe, expect, it } from "vitest";
import { ordersSubjects, streamName, subjectFor } from "./names.js";
import { ordersStreamConfig } from "./stream-config.js";

describe("JetStream names", () => {
  it("derives the stream and subjects from the namespace", () => {
    expect(streamName("orderly")).toBe("ORDERLY_ORDERS");
    expect(streamName("t_1a2b3c4d")).toBe("T_1A2B3C4D_ORDERS");
    expect(subjectFor("orderly", "OrderPlaced")).toBe("orderly.orders.OrderPlaced");
    expect(ordersSubjects("orderly")).toBe("orderly.orders.>");
  });

  it("rejects namespaces that would break a subject or a stream name", () => {
    for (const bad of ["", "a.b", "a b", "a*", "a>", "x".repeat(65)]) {
      expect(() => streamName(bad)).toThrow(/ORDERLY_NAMESPACE/);
    }
  });

  it("fills the placeholders of infra/nats/orders-stream.json", () => {
    const config = ordersStreamConfig("t_x");
    expect(config.name).toBe("T_X_ORDERS");
    expect(config.subjects).toEqual(["t_x.orders.>"]);
    expect(config.storage).toBe("file");
    expect(config.duplicate_window).toBeGreaterThan(0);
    expect(JSON.stringify(config)).not.toContain("{{");
  });
});
