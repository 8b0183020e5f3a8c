import { describe, expect, it } from "vitest";
import { fnv1a32, ownsStream, parsePartitionList, partitionOf } from "./partition.js";

describe("fnv1a32", () => {
  it.each([
    ["", 0x811c9dc5],
    ["a", 0xe40c292c],
    ["foobar", 0xbf9cf968],
  ])("gives the published FNV-1a test vector of %j", (text, hash) => {
    expect(fnv1a32(text)).toBe(hash);
  });

  // A lone surrogate hashes as U+FFFD; values computed independently over the encoded bytes.
  it.each([
    ["é", 513665217],
    ["ü€", 622871686],
    ["😀x", 3102921296],
    ["\ud800", 55024714],
    ["a\udc00b", 1982953453],
  ])("hashes the UTF-8 bytes of %j", (text, hash) => {
    expect(fnv1a32(text)).toBe(hash);
  });
});

describe("partitionOf", () => {
  it("is fnv1a32 of the order id modulo the count (vectors other languages must match)", () => {
    const id = "0b6f3b8e-2f5a-4c1e-9d7a-3e2b1c0d9f8a";
    expect(fnv1a32(id)).toBe(fnv1a32(id));
    expect(partitionOf(id, 4)).toBe(fnv1a32(id) % 4);
    expect(partitionOf("00000000-0000-0000-0000-000000000000", 4)).toBe(
      fnv1a32("00000000-0000-0000-0000-000000000000") % 4,
    );
    // Fixed values: a change of the hash would move every order to another partition.
    expect(fnv1a32("00000000-0000-0000-0000-000000000000")).toMatchInlineSnapshot(`3192360657`);
    expect(partitionOf("0b6f3b8e-2f5a-4c1e-9d7a-3e2b1c0d9f8a", 7)).toMatchInlineSnapshot(`1`);
  });

  it("puts everything in partition 0 of 1, and refuses a count below 1", () => {
    expect(partitionOf("x", 1)).toBe(0);
    expect(() => partitionOf("x", 0)).toThrow(RangeError);
  });

  it("spreads uuids roughly evenly", () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) {
      const hex = i.toString(16).padStart(12, "0");
      const p = partitionOf(`5f0c1a2b-3c4d-4e5f-8a9b-${hex}`, 4);
      counts[p] = (counts[p] ?? 0) + 1;
    }
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});

describe("ownsStream", () => {
  it("takes the order id of an order stream", () => {
    const id = "0b6f3b8e-2f5a-4c1e-9d7a-3e2b1c0d9f8a";
    const p = partitionOf(id, 3);
    expect(ownsStream({ index: p, count: 3 }, `order-${id}`)).toBe(true);
    expect(ownsStream({ index: (p + 1) % 3, count: 3 }, `order-${id}`)).toBe(false);
    expect(ownsStream({ index: 0, count: 1 }, "anything")).toBe(true);
  });
});

describe("parsePartitionList", () => {
  it("accepts one number or a comma list, sorted and distinct", () => {
    expect(parsePartitionList("2", 4)).toEqual([2]);
    expect(parsePartitionList("3, 0,0", 4)).toEqual([0, 3]);
  });
  it("names what is wrong", () => {
    expect(parsePartitionList("4", 4)).toMatch(/does not exist/);
    expect(parsePartitionList("a", 4)).toMatch(/not a comma-separated/);
    expect(parsePartitionList("", 4)).toMatch(/not a comma-separated/);
  });
});
