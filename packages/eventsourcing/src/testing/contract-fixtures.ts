// Test data for the EventStore contract (and for other stores' own tests): ids, metadata, append requests.
import type { Event, EventMetadata } from "../event.js";
import type { AppendRequest, IdempotencyClaim } from "../event-store.js";
import type { ExpectedVersion } from "../expected-version.js";

/** A random v4 UUID (test data only: Math.random keeps this package free of I/O). */
export function testUuid(): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16));
  hex[12] = "4";
  hex[16] = ((Number.parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
  const s = hex.join("");
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

/**
 * The metadata of an event written by command `commandId` (its own correlation and causation), occurring now.
 * `extra` adds or replaces fields (a bench passes `eventId` from `node:crypto` to keep `testUuid` out of its loop).
 */
export function testMetadata(commandId: string = testUuid(), extra: Partial<EventMetadata> = {}): EventMetadata {
  return {
    eventId: extra.eventId ?? testUuid(),
    commandId,
    correlationId: commandId,
    causationId: commandId,
    occurredAt: new Date(),
    ...extra,
  };
}

/** A hex "sha-256" for tests: any 64 hex digits, derived from a label so equal labels mean equal requests. */
export function testRequestHash(label: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < label.length; i++) {
    h1 = Math.imul(h1 ^ label.charCodeAt(i), 16777619) >>> 0;
    h2 = Math.imul(h2 + label.charCodeAt(i), 2246822507) >>> 0;
  }
  const part = (h1.toString(16).padStart(8, "0") + h2.toString(16).padStart(8, "0")).repeat(4);
  return part.slice(0, 64);
}

export interface TestAppendOptions {
  readonly expectedVersion?: ExpectedVersion;
  readonly events?: readonly Event[];
  readonly key?: string;
  /** Label of the request for `testRequestHash` (default: the key, so the same key means the same request). */
  readonly request?: string;
  readonly traceparent?: string;
  readonly actor?: string;
}

/** An append request with fresh ids and metadata. */
export function testAppendRequest(streamId: string, options: TestAppendOptions = {}): AppendRequest {
  const commandId = testUuid();
  const correlationId = testUuid();
  const occurredAt = new Date(Date.UTC(2026, 10, 26, 12, 0, 0, 123));
  const events = options.events ?? [{ type: "ThingHappened", data: { n: 1 } }];
  const idempotency: IdempotencyClaim | undefined =
    options.key === undefined
      ? undefined
      : { key: options.key, requestHash: testRequestHash(options.request ?? options.key) };
  return {
    streamId,
    expectedVersion: options.expectedVersion ?? "any",
    events: events.map((event) => {
      const metadata: EventMetadata = {
        eventId: testUuid(),
        commandId,
        correlationId,
        causationId: commandId,
        occurredAt,
        traceparent: options.traceparent,
        actor: options.actor,
      };
      return { event, metadata };
    }),
    idempotency,
  };
}

/** A fresh stream id, so tests never share a stream. */
export function streamName(): string {
  return `order-${testUuid()}`;
}

/** Awaits `promise` and returns what it rejected with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject");
}
