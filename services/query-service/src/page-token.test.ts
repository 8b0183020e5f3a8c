import { ValidationError } from "@orderly/eventsourcing";
import { describe, expect, it } from "vitest";
import { PageTokens } from "./page-token.js";

const binding = { customerId: "customer-1", pageSize: 20 };

describe("PageTokens", () => {
  const tokens = new PageTokens("a-test-secret-of-enough-length");

  it("round-trips the reader's cursor", () => {
    for (const cursor of ["1700000000000:42", "", "ü/+=.:{}", "x".repeat(500)]) {
      const token = tokens.encode(cursor, binding);
      expect(token).toMatch(/^[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/);
      if (cursor !== "") expect(tokens.decode(token, binding)).toBe(cursor);
    }
  });

  it("does not show the cursor in the clear", () => {
    expect(tokens.encode("1700000000000:42", binding)).not.toContain("1700000000000");
  });

  it("rejects a token whose cursor was changed", () => {
    const token = tokens.encode("1700000000000:42", binding);
    const forged = `${Buffer.from("1700000000000:41").toString("base64url")}${token.slice(token.indexOf("."))}`;
    expect(() => tokens.decode(forged, binding)).toThrow(ValidationError);
  });

  it("rejects a token with any single character changed", () => {
    const token = tokens.encode("1700000000000:42", binding);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (let i = 0; i < token.length; i++) {
      if (token[i] === ".") continue;
      const replacement = alphabet[(alphabet.indexOf(token[i] as string) + 1) % alphabet.length];
      const tampered = token.slice(0, i) + replacement + token.slice(i + 1);
      expect(() => tokens.decode(tampered, binding), `position ${i}`).toThrow(/page_token/);
    }
  });

  it("rejects a token of another customer or another page size", () => {
    const token = tokens.encode("1700000000000:42", binding);
    expect(() => tokens.decode(token, { customerId: "customer-2", pageSize: 20 })).toThrow(ValidationError);
    expect(() => tokens.decode(token, { customerId: "customer-1", pageSize: 21 })).toThrow(ValidationError);
  });

  it("rejects a token signed with another secret", () => {
    const other = new PageTokens("another-secret-of-enough-length");
    expect(() => tokens.decode(other.encode("c", binding), binding)).toThrow(ValidationError);
  });

  it("rejects garbage", () => {
    for (const garbage of ["x", ".", "a.", ".b", "a.b.c", "a b.c", "%%%.%%%", "a".repeat(5_000)]) {
      expect(() => tokens.decode(garbage, binding), garbage).toThrow(ValidationError);
    }
  });

  it("refuses a short secret", () => {
    expect(() => new PageTokens("short")).toThrow(/16 bytes/);
  });
});
