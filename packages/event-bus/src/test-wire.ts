// Test helper (not built into dist): a tiny protobuf wire builder, to write what our encoder never writes (order,
// repeats, unknown fields), and random shuffles and byte mutations of envelopes.

export function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
export const key = (field: number, wireType: number) => varint(field * 8 + wireType);
export const int = (field: number, value: number | bigint) => [...key(field, 0), ...varint(value)];
export const len = (field: number, bytes: number[] | Uint8Array) => [
  ...key(field, 2),
  ...varint(bytes.length),
  ...bytes,
];
export const str = (field: number, value: string) => len(field, [...Buffer.from(value, "utf8")]);
export const fixed64 = (field: number) => [...key(field, 1), 1, 2, 3, 4, 5, 6, 7, 8];
export const fixed32 = (field: number) => [...key(field, 5), 9, 8, 7, 6];
export const group = (field: number, inner: number[]) => [...key(field, 3), ...inner, ...key(field, 4)];

/** One unknown field of every wire type, at numbers no message of ours uses. */
export const unknownFields = (): number[][] => [
  int(99, 123456789),
  int(15, -1),
  fixed64(100),
  fixed32(16),
  len(1000, [1, 2, 3]),
  group(17, [...int(1, 5), ...group(2, [...str(3, "x")]), ...fixed32(4)]),
];

export const bytesOf = (parts: number[][]) => new Uint8Array(parts.flat());

export function shuffle<T>(items: T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export function mutate(bytes: Uint8Array, random: () => number): Uint8Array {
  let out = [...bytes];
  const count = 1 + Math.floor(random() * 3);
  for (let i = 0; i < count && out.length > 0; i++) {
    const at = Math.floor(random() * out.length);
    const r = random();
    if (r < 0.3) out[at] = (out[at] as number) ^ (1 << Math.floor(random() * 8));
    else if (r < 0.5) out[at] = Math.floor(random() * 256);
    else if (r < 0.65) out.splice(at, 1);
    else if (r < 0.8) out.splice(at, 0, Math.floor(random() * 256));
    else if (r < 0.9) out = out.slice(0, at);
    else out.splice(at, 0, ...out.slice(at, at + 1 + Math.floor(random() * 8)));
  }
  return new Uint8Array(out);
}
