import { describe, expect, it } from "vitest";
import { UpcasterError, Upcasters } from "./upcasters.js";

describe("Upcasters", () => {
  const upcasters = new Upcasters()
    .register("Shipped", 1, (v1) => ({ ...(v1 as object), trackingUrl: "" }))
    .register("Shipped", 2, (v2) => {
      const { carrier, ...rest } = v2 as { carrier: string };
      return { ...rest, carrierName: carrier };
    });

  it("reads every older version as the current one, step by step", () => {
    expect(upcasters.currentVersion("Shipped")).toBe(3);
    expect(upcasters.currentVersion("Placed")).toBe(1);
    expect(upcasters.upcast("Shipped", 1, { carrier: "DHL" })).toEqual({
      version: 3,
      data: { trackingUrl: "", carrierName: "DHL" },
    });
    expect(upcasters.upcast("Shipped", 2, { carrier: "UPS", trackingUrl: "u" })).toEqual({
      version: 3,
      data: { trackingUrl: "u", carrierName: "UPS" },
    });
  });

  it("leaves current, newer and unregistered payloads as they are", () => {
    const data = { carrierName: "DHL" };
    expect(upcasters.needsUpcast("Shipped", 3)).toBe(false);
    expect(upcasters.needsUpcast("Shipped", 1)).toBe(true);
    expect(upcasters.needsUpcast("Placed", 1)).toBe(false);
    expect(upcasters.upcast("Shipped", 3, data)).toEqual({ version: 3, data });
    expect(upcasters.upcast("Shipped", 4, data)).toEqual({ version: 4, data });
    expect(upcasters.upcast("Placed", 1, data)).toEqual({ version: 1, data });
  });

  it("refuses holes, duplicates and versions below 1", () => {
    expect(() => new Upcasters().register("T", 2, (d) => d)).toThrow(UpcasterError);
    expect(() => new Upcasters().register("T", 0, (d) => d)).toThrow(UpcasterError);
    expect(() => new Upcasters().register("T", 1, (d) => d).register("T", 1, (d) => d)).toThrow(UpcasterError);
  });
});
