/**
 * Node's Buffer internals we call directly (measured: the public forms cost as much as the copy for short strings):
 * - `utf8Write`: what `Buffer#write` calls for "utf8" once it has normalised its arguments (the protobuf writer, the
 *   relay's header slab);
 * - `latin1Slice` / `utf8Slice`: what `Buffer#toString` calls; ~4× faster than a TextDecoder on short strings (the
 *   envelope reader, the projector's raw header reader; callers use `latin1Slice` on ASCII bytes only).
 * Long-standing in Node, though not in its typings. Each falls back to the public API (same results, slower) when a
 * Node release drops it; `node-buffer.test.ts` fails loudly when one is gone or behaves differently. Call them with
 * `.call(bytes, …)`, as the methods they are.
 */

type Utf8Write = (this: Uint8Array, text: string, offset: number, length?: number) => number;
type Slice = (this: Uint8Array, start: number, end: number) => string;

const native = Buffer.prototype as unknown as { utf8Write?: unknown; latin1Slice?: unknown; utf8Slice?: unknown };

const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** The public-API equivalents, used when Node lacks an internal (exported for the test). */
export const fallbacks = {
  utf8Write: function (this: Uint8Array, text: string, offset: number, length?: number): number {
    const buf = asBuffer(this);
    return buf.write(text, offset, length ?? buf.length - offset, "utf8");
  } as Utf8Write,
  latin1Slice: function (this: Uint8Array, start: number, end: number): string {
    return asBuffer(this).toString("latin1", start, end);
  } as Slice,
  utf8Slice: function (this: Uint8Array, start: number, end: number): string {
    return asBuffer(this).toString("utf8", start, end);
  } as Slice,
};

/** Which internals this Node has (false: the fallback is in use). */
export const nodeBufferInternals = {
  utf8Write: typeof native.utf8Write === "function",
  latin1Slice: typeof native.latin1Slice === "function",
  utf8Slice: typeof native.utf8Slice === "function",
} as const;

/** Writes `text` as UTF-8 at `offset` (at most `length` bytes; whole characters only); returns the bytes written. */
export const utf8Write: Utf8Write = nodeBufferInternals.utf8Write
  ? (native.utf8Write as Utf8Write)
  : fallbacks.utf8Write;

/** The bytes `start` to `end` as latin1 (for ASCII bytes: the same string as UTF-8). */
export const latin1Slice: Slice = nodeBufferInternals.latin1Slice
  ? (native.latin1Slice as Slice)
  : fallbacks.latin1Slice;

/** The bytes `start` to `end` as UTF-8, not validated (invalid sequences become U+FFFD), a leading BOM kept. */
export const utf8Slice: Slice = nodeBufferInternals.utf8Slice ? (native.utf8Slice as Slice) : fallbacks.utf8Slice;
