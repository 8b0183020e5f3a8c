import { describe, expect, it } from "vitest";
import { isCanonicalUuid, isUuid } from "./uuid.js";

describe("uuid", () => {
  it("accepts 8-4-4-4-12 hex digits; the canonical form only in lowercase", () => {
    const id = "0190b2d4-6e4f-7c3a-9d2e-1f2a3b4c5d6e";
    expect(isUuid(id)).toBe(true);
    expect(isUuid(id.toUpperCase())).toBe(true);
    expect(isCanonicalUuid(id)).toBe(true);
    expect(isCanonicalUuid(id.toUpperCase())).toBe(false);
    for (const bad of ["", "not-a-uuid", `${id}0`, ` ${id}`, id.replaceAll("-", "")]) {
      expect(isUuid(bad)).toBe(false);
      expect(isCanonicalUuid(bad)).toBe(false);
    }
  });
});
