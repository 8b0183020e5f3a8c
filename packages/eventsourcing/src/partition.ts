/**
 * Partitions of a read model (ADR 0019): an order belongs to partition `fnv1a32(utf8(orderId)) mod count`, where
 * `orderId` is the order's id in its canonical text form (the lower-case UUID of its stream `order-<id>`) and fnv1a32
 * is the 32-bit FNV-1a hash (offset basis 0x811c9dc5, prime 0x01000193) over the id's UTF-8 bytes, taken as an
 * unsigned integer. Stable across processes, versions and languages: any other implementation must give the same
 * partition (the test vectors are in partition.test.ts).
 */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  const step = (byte: number): void => {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  };
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      step(code);
      continue;
    }
    // Anything outside ASCII: the same bytes UTF-8 would give (a lone surrogate as U+FFFD, like TextEncoder).
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
      } else code = 0xfffd;
    } else if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd;
    if (code < 0x800) {
      step(0xc0 | (code >> 6));
    } else if (code < 0x10000) {
      step(0xe0 | (code >> 12));
      step(0x80 | ((code >> 6) & 0x3f));
    } else {
      step(0xf0 | (code >> 18));
      step(0x80 | ((code >> 12) & 0x3f));
      step(0x80 | ((code >> 6) & 0x3f));
    }
    step(0x80 | (code & 0x3f));
  }
  return hash >>> 0;
}

/** The partition (0 … count − 1) a key belongs to; `count` 1 puts everything in partition 0. */
export function partitionOf(key: string, count: number): number {
  if (!Number.isSafeInteger(count) || count < 1)
    throw new RangeError(`partition count ${count} is not a positive integer`);
  return count === 1 ? 0 : fnv1a32(key) % count;
}

/** One partition of a read model split `count` ways. */
export interface PartitionSpec {
  readonly index: number;
  readonly count: number;
}

/** The whole read model as one partition (today's layout). */
export const WHOLE: PartitionSpec = { index: 0, count: 1 };

/** The key an event's partition is computed from: its order id for `order-<id>` streams, else the stream id itself. */
export function partitionKeyOfStream(streamId: string): string {
  return streamId.startsWith("order-") ? streamId.slice("order-".length) : streamId;
}

/** Does partition `spec` own the event of stream `streamId`? */
export function ownsStream(spec: PartitionSpec, streamId: string): boolean {
  return spec.count === 1 || partitionOf(partitionKeyOfStream(streamId), spec.count) === spec.index;
}

/**
 * Parses a partition list as PROJECTOR_PARTITION takes it (`2`, `0,2`) for `count` partitions. Returns the sorted
 * distinct indexes, or the problem.
 */
export function parsePartitionList(text: string, count: number): number[] | string {
  const parts = text.split(",").map((p) => p.trim());
  const out = new Set<number>();
  for (const part of parts) {
    if (!/^\d{1,6}$/.test(part)) return `"${text}" is not a comma-separated list of partition numbers`;
    const index = Number(part);
    if (index >= count) return `partition ${index} does not exist with ${count} partitions (0 … ${count - 1})`;
    out.add(index);
  }
  return [...out].sort((a, b) => a - b);
}
