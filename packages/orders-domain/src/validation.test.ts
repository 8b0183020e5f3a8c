import { ValidationError } from "@orderly/eventsourcing";
import { describe, expect, it } from "vitest";
import { validateIdempotencyKey, validateOrderId } from "./validation.js";

describe("validateIdempotencyKey", () => {
  it.each([
    ["empty", ""],
    ["129 characters", "k".repeat(129)],
    ["a control character", "key\u001b"],
  ])("refuses %s", (_, key) => {
    expect(() => validateIdempotencyKey(key)).toThrow(ValidationError);
    try {
      validateIdempotencyKey(key);
    } catch (error) {
      expect((error as ValidationError).field).toBe("idempotency_key");
      expect((error as ValidationError).code).toBe("invalid_argument");
    }
  });

  it.each([["k"], ["k".repeat(128)], ["ключ-🔑"]])("accepts %s", (key) => {
    expect(() => validateIdempotencyKey(key)).not.toThrow();
  });
});

describe("validateOrderId", () => {
  it("accepts a canonical lower-case UUID and refuses anything else", () => {
    expect(() => validateOrderId("0b9c3c4e-7f43-4c55-9b0e-3b1d8a0f6c21")).not.toThrow();
    for (const bad of ["", "0b9c3c4e7f434c559b0e3b1d8a0f6c21", "{0b9c3c4e-7f43-4c55-9b0e-3b1d8a0f6c21}", "x"]) {
      expect(() => validateOrderId(bad)).toThrow(ValidationError);
    }
  });
});
