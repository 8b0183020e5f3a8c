import { describe, expect, it } from "vitest";
import { arrayLiteral, integerElement, NULL_ELEMENT, quotedElement, timestampElement } from "./array-literals.js";

describe("array literal elements", () => {
  it("quotes every string and escapes only quotes and backslashes", () => {
    expect(quotedElement("order-1")).toBe('"order-1"');
    expect(quotedElement('{"a":"b\\c"}')).toBe('"{\\"a\\":\\"b\\\\c\\"}"');
    // Separators, braces, spaces and the NULL keyword are harmless inside the quotes.
    expect(quotedElement("NULL")).toBe('"NULL"');
    expect(quotedElement("a, {b} c")).toBe('"a, {b} c"');
    expect(quotedElement("")).toBe('""');
  });

  it("writes safe integers as digits and anything else as NaN, which Postgres refuses", () => {
    expect(integerElement(0)).toBe("0");
    expect(integerElement(-42)).toBe("-42");
    expect(integerElement(2 ** 53 - 1)).toBe("9007199254740991");
    expect(integerElement(1.5)).toBe("NaN");
    expect(integerElement(2 ** 53)).toBe("NaN");
  });

  it("writes instants in UTC", () => {
    expect(timestampElement(new Date(Date.UTC(2026, 10, 26, 14, 5, 6, 7)))).toBe('"2026-11-26T14:05:06.007Z"');
  });

  it("joins elements into a literal", () => {
    expect(arrayLiteral([quotedElement("a"), NULL_ELEMENT, integerElement(3)].join(","))).toBe('{"a",NULL,3}');
    expect(arrayLiteral("")).toBe("{}");
  });
});
