import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { utf8Write } from "@orderly/library-internals/node-buffer";

/**
 * The one hand-written protobuf writer (the envelopes the relay and the command service publish, the command
 * service's idempotency hash): fields in the order the caller writes them, proto3 defaults left out, numbers taken from
 * the generated descriptors by `fieldNumbers`. Byte for byte protobuf-es's `toBinary` for the messages we write (the
 * codec and request-hash tests compare them on random messages). protobuf-es's reflective `toBinary` costs ~25 µs per
 * envelope and its BinaryWriter ~17 µs (TextEncoder, chunk arrays, garbage).
 *
 * Every message is written into a shared slab and handed out as a view of it: one allocation per ~400 envelopes
 * instead of one ArrayBuffer (off-heap backing store, tracked by the GC) per envelope. A slab is never written again
 * once a message in it is finished, so a view stays valid for as long as someone holds it. One message at a time:
 * `begin`, the fields, `finish` (synchronously).
 */

/** The wire-level kind a writer or reader expects a field to be. */
export type FieldKind = "string" | "int32" | "int64" | "bool" | "enum" | "message" | "repeated message";

/**
 * The field numbers of `schema` for the fields named (by their protobuf-es local name), checked against the kind the
 * code writes or reads: a proto change that renames, drops or retypes one fails at load, loudly, instead of writing
 * wrong bytes.
 */
export function fieldNumbers<const K extends string>(
  schema: DescMessage,
  kinds: Readonly<Record<K, FieldKind>>,
): Readonly<Record<K, number>> {
  const numbers = {} as Record<K, number>;
  for (const name of Object.keys(kinds) as K[]) {
    const field = schema.field[name];
    if (field === undefined) throw new Error(`${schema.typeName} has no field ${name}`);
    const actual = kindOf(field);
    if (actual !== kinds[name]) {
      throw new Error(`${schema.typeName}.${name} is ${actual}, the hand-written codec expects ${kinds[name]}`);
    }
    numbers[name] = field.number;
  }
  return numbers;
}

function kindOf(field: DescField): FieldKind | string {
  switch (field.fieldKind) {
    case "scalar":
      switch (field.scalar) {
        case ScalarType.STRING:
          return "string";
        case ScalarType.INT32:
          return "int32";
        case ScalarType.INT64:
          return "int64";
        case ScalarType.BOOL:
          return "bool";
        default:
          return `scalar ${ScalarType[field.scalar]}`;
      }
    case "enum":
      return "enum";
    case "message":
      return "message";
    case "list":
      return field.listKind === "message" ? "repeated message" : `repeated ${field.listKind}`;
    default:
      return field.fieldKind;
  }
}

const VARINT = 0;
const LEN = 2;
const SLAB_BYTES = 128 * 1024;

export class ProtoWriter {
  buf = Buffer.allocUnsafe(SLAB_BYTES);
  /** Where the message being written starts. */
  start = 0;
  pos = 0;
  readonly #forks: number[] = [];

  begin(): void {
    // A previous message that threw half-way leaves nothing behind: start over where it started.
    this.pos = this.start;
    this.#forks.length = 0;
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    // Move the message written so far to the front of a fresh slab; finished messages stay where they are.
    const used = this.pos - this.start;
    const slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, 2 * (used + n)));
    this.buf.copy(slab, 0, this.start, this.pos);
    for (let i = 0; i < this.#forks.length; i++) (this.#forks[i] as number) -= this.start;
    this.buf = slab;
    this.start = 0;
    this.pos = used;
  }

  /** A non-negative integer below 2^53. */
  varint(value: number): void {
    this.ensure(10);
    const buf = this.buf;
    let v = value;
    while (v > 0x7f) {
      buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    buf[this.pos++] = v;
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  /** int64/int32/enum as a varint; negative values as their 64-bit two's complement (10 bytes), like protobuf. */
  int(field: number, value: number): void {
    if (value === 0) return;
    this.tag(field, VARINT);
    if (value > 0) this.varint(value);
    else this.#varint64(BigInt.asUintN(64, BigInt(value)));
  }

  /** An int64 held as a bigint (protobuf-es's type for int64). */
  int64(field: number, value: bigint): void {
    if (value === 0n) return;
    this.tag(field, VARINT);
    this.#varint64(BigInt.asUintN(64, value));
  }

  /** proto3 `optional` int64: written whenever present, even when 0. */
  optionalInt64(field: number, value: bigint | undefined): void {
    if (value === undefined) return;
    this.tag(field, VARINT);
    this.#varint64(BigInt.asUintN(64, value));
  }

  string(field: number, value: string): void {
    if (value === "") return;
    this.tag(field, LEN);
    if (value.length <= 42) {
      // At most 126 UTF-8 bytes: the length is one byte, written after the string (one pass over it, not two).
      this.ensure(1 + value.length * 3);
      const at = this.pos;
      const written = utf8Write.call(this.buf, value, at + 1);
      this.buf[at] = written;
      this.pos = at + 1 + written;
      return;
    }
    const length = Buffer.byteLength(value, "utf8");
    this.varint(length);
    this.ensure(length);
    utf8Write.call(this.buf, value, this.pos, length);
    this.pos += length;
  }

  /** UTF-8 bytes with no tag and no length (a prefix that is not protobuf, such as the request hash's RPC name). */
  raw(text: string): void {
    this.ensure(text.length * 3);
    this.pos += utf8Write.call(this.buf, text, this.pos);
  }

  /** Starts a length-delimited nested message (always written, even when empty); `join` ends it. */
  fork(field: number): void {
    this.tag(field, LEN);
    this.ensure(1);
    this.#forks.push(this.pos);
    this.pos += 1;
  }

  join(): void {
    let start = this.#forks.pop() as number;
    const length = this.pos - start - 1;
    if (length < 0x80) {
      this.buf[start] = length;
      return;
    }
    let size = 1;
    for (let v = length; v > 0x7f; v = Math.floor(v / 128)) size++;
    // `ensure` may move the message to a fresh slab; this fork is off the stack it adjusts, so follow the move here.
    const before = this.start;
    this.ensure(size - 1);
    start -= before - this.start;
    this.buf.copyWithin(start + size, start + 1, this.pos);
    this.pos = start;
    this.varint(length);
    this.pos = start + size + length;
  }

  /** The message written since `begin`, as a view of the slab (its bytes never change). */
  finish(): Uint8Array {
    const view = new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.start, this.pos - this.start);
    this.start = this.pos;
    return view;
  }

  #varint64(value: bigint): void {
    if (value <= 0x1f_ffff_ffff_ffffn) {
      this.varint(Number(value));
      return;
    }
    this.ensure(10);
    let v = value;
    while (v > 0x7fn) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }
}
