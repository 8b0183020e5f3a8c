import type { EventHeaderNames } from "./ports.js";

const EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence";
const crlf = /[\r\n]/;

/**
 * The header block of one event's message as text, exactly what `renderHeaders` renders for the entries msg id,
 * position, stream, type, committed-at, traceparent (when there is one), Nats-Expected-Last-Sequence, in that order
 * (tested), from the stored row's text without an array per message. Nats-Expected-Last-Sequence: the stream accepts
 * the message only right after the previous one (no gap, no reordering, no zombie writer).
 */
export class EventHeaderRenderer {
  readonly #msgId: string;
  readonly #position: string;
  readonly #stream: string;
  readonly #type: string;
  readonly #committedAt: string;
  readonly #traceparent: string;

  constructor(names: EventHeaderNames) {
    this.#msgId = `NATS/1.0\r\n${names.msgId}: `;
    this.#position = `\r\n${names.position}: `;
    this.#stream = `\r\n${names.stream}: `;
    this.#type = `\r\n${names.type}: `;
    this.#committedAt = `\r\n${names.committedAt}: `;
    this.#traceparent = `\r\n${names.traceparent}: `;
  }

  /** Throws on CR or LF in a free-text value (uuids and decimals cannot hold them). */
  render(
    eventId: string,
    position: string,
    streamId: string,
    type: string,
    committedAtMs: string,
    traceparent: string | null,
    expectedLastSequence: number,
  ): string {
    if (crlf.test(streamId) || crlf.test(type) || (traceparent !== null && crlf.test(traceparent))) {
      throw new Error(`event at position ${position}: a header value contains CR or LF`);
    }
    let text = `${this.#msgId}${eventId}${this.#position}${position}${this.#stream}${streamId}${this.#type}${type}${this.#committedAt}${committedAtMs}`;
    if (traceparent) text += `${this.#traceparent}${traceparent}`;
    return `${text}\r\n${EXPECTED_LAST_SEQUENCE}: ${expectedLastSequence}\r\n\r\n`;
  }
}
