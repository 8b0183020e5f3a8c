import { describe, expect, it } from "vitest";
import { fallbacks, latin1Slice, nodeBufferInternals, utf8Slice, utf8Write } from "./node-buffer.js";

const samples = [
  "",
  "a",
  "order-123",
  "é",
  "ß€中",
  "😀",
  "\uFEFFbom",
  "\u0000nul",
  "x".repeat(300),
  "ключ-😀-€".repeat(20),
];

describe("Node's Buffer internals", () => {
  it("are all still there (else the hot paths run on the slower fallbacks: rerun the benchmarks)", () => {
    expect(nodeBufferInternals).toEqual({ utf8Write: true, latin1Slice: true, utf8Slice: true });
  });

  it("utf8Write writes what Buffer#write writes, and returns the same count, with and without a length", () => {
    for (const text of samples) {
      for (const write of [utf8Write, fallbacks.utf8Write]) {
        const ours = Buffer.alloc(2000, 0xaa);
        const theirs = Buffer.alloc(2000, 0xaa);
        expect(write.call(ours, text, 7)).toBe(theirs.write(text, 7, "utf8"));
        expect(ours).toEqual(theirs);
        // A length that cuts a character: only whole characters are written, as Buffer#write does.
        const cut = Buffer.alloc(2000, 0xaa);
        const cutTheirs = Buffer.alloc(2000, 0xaa);
        expect(write.call(cut, text, 3, 5)).toBe(cutTheirs.write(text, 3, 5, "utf8"));
        expect(cut).toEqual(cutTheirs);
      }
    }
  });

  it("latin1Slice and utf8Slice read what Buffer#toString reads, on a Buffer and on a plain Uint8Array", () => {
    for (const text of samples) {
      const bytes = Buffer.from(`..${text}..`, "utf8");
      const plain = new Uint8Array(bytes);
      for (const on of [bytes, plain]) {
        for (const slice of [latin1Slice, fallbacks.latin1Slice]) {
          expect(slice.call(on, 2, bytes.length - 2)).toBe(bytes.toString("latin1", 2, bytes.length - 2));
        }
        for (const slice of [utf8Slice, fallbacks.utf8Slice]) {
          expect(slice.call(on, 2, bytes.length - 2)).toBe(text);
        }
      }
    }
    expect(utf8Slice.call(Buffer.from([0x61, 0xff, 0x62]), 0, 3)).toBe("a\uFFFDb");
  });
});
