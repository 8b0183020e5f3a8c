import type { JsMsg } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/transport-node";
import { latin1Slice } from "./node-buffer.js";

/**
 * nats.js internals we rely on (measured, pinned version 3.3.1; `nats.int.test.ts` and the projector's JetStream test
 * fail loudly when an upgrade changes them):
 * - reading a message's header block raw (`headersOf`), from `JsMsg.msg._rdata` / `_msg.hdr`, instead of the parsed
 *   `m.headers` map; falls back to `m.headers` when the internals do not have that shape;
 * - publishing headers already in wire form (`publishHeaders`): nats.js only calls `encode()` on the headers it is
 *   given, so a rendered block passes where a `MsgHdrs` is typed, without `MsgHdrs`'s per-`set` canonicalisation.
 */

/** The one thing a decoder asks of message headers (`MsgHdrs` satisfies it). */
export interface HeaderReader {
  /** The first value of the header named exactly `name`, trimmed; "" when there is none. */
  get(name: string): string;
}

const noHeaders: HeaderReader = { get: () => "" };

/** nats.js 3.x: a JsMsg wraps the core message, whose `_rdata` holds the header block in its first `_msg.hdr` bytes. */
interface Internals {
  readonly msg?: { readonly _rdata?: unknown; readonly _msg?: { readonly hdr?: unknown } };
}

/**
 * A message's headers for a lookup or two. `m.headers` parses the whole block into a map (a TextDecoder call, a split,
 * a validated, canonicalised key and a trimmed value per header): a quarter of what a projector allocates per message
 * with the relay's seven headers, to read one of them. This reads the raw block instead when the nats.js internals
 * have the shape they have in the pinned version (a test checks that they do), and falls back to `m.headers`.
 * Answers as `MsgHdrs.get(name)` does, except that a malformed header the decoder does not ask for is ignored rather
 * than making every lookup throw.
 */
export function headersOf(m: JsMsg): HeaderReader {
  const inner = (m as unknown as Internals).msg;
  const data = inner?._rdata;
  const length = inner?._msg?.hdr;
  if (data instanceof Uint8Array && typeof length === "number" && length <= data.length) {
    return length > 0 ? new RawHeaders(data, length) : noHeaders;
  }
  return m.headers ?? noHeaders;
}

const CR = 13;
const LF = 10;
const COLON = 58;

const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

export class RawHeaders implements HeaderReader {
  constructor(
    private readonly bytes: Uint8Array,
    private readonly end: number,
  ) {}

  get(name: string): string {
    const bytes = this.bytes;
    const end = this.end;
    const n = name.length;
    // Lines end in CRLF; the first is the status line (`NATS/1.0[ code description]`).
    let line = nextLine(bytes, 0, end);
    while (line < end) {
      const stop = lineEnd(bytes, line, end);
      if (line + n < stop && bytes[line + n] === COLON && startsWith(bytes, line, name)) {
        return decodeValue(bytes, line + n + 1, stop).trim();
      }
      line = stop + 2;
    }
    return "";
  }
}

/** Index of the CR of the CRLF ending the line at `from` (or `end`). */
function lineEnd(bytes: Uint8Array, from: number, end: number): number {
  for (let i = from; i + 1 < end; i++) {
    if (bytes[i] === CR && bytes[i + 1] === LF) return i;
  }
  return end;
}

function nextLine(bytes: Uint8Array, from: number, end: number): number {
  return lineEnd(bytes, from, end) + 2;
}

function startsWith(bytes: Uint8Array, at: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    if (bytes[at + i] !== name.charCodeAt(i)) return false;
  }
  return true;
}

function decodeValue(bytes: Uint8Array, start: number, stop: number): string {
  for (let i = start; i < stop; i++) {
    if ((bytes[i] as number) > 0x7f) return utf8.decode(bytes.subarray(start, stop));
  }
  return latin1Slice.call(bytes, start, stop);
}

/** Headers already in their wire form (`NATS/1.0\r\nName: value\r\n…\r\n\r\n`), passed where nats.js types a MsgHdrs. */
export function publishHeaders(encoded: { encode(): Uint8Array }): MsgHdrs {
  return encoded as unknown as MsgHdrs;
}
