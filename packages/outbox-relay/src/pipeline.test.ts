// The read-ahead publish pipeline alone: an in-memory tail and checkpoint, an in-memory publisher whose acks the test
// controls. No Postgres, no NATS (those are covered by relay.int.test.ts).
import { headers } from "@orderly/event-bus";
import type { StoredEventColumns } from "@orderly/eventsourcing";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { type InFlightBatch, type OutgoingMessage, PublishFailedError } from "./jetstream-publisher.js";
import { registerRelayMetrics } from "./metrics.js";
import { type AckedBatch, type BatchPublisher, PublishPipeline, StoreWentBackError } from "./pipeline.js";
import type { ContinuityCheck, OutboxPage, RelayBus, RelaySession } from "./ports.js";
import { Wakeup } from "./wakeup.js";

const bus: RelayBus = {
  stream: "test",
  subject: (type) => `test.${type}`,
  encodeStored: (stored) => new TextEncoder().encode(`${stored.position}:${stored.eventId}:${stored.data}`),
  ensureStream: async () => undefined,
  headers,
};

const row = (position: number): StoredEventColumns => [
  String(position),
  `event-${position}`,
  `order-${position}`,
  "1",
  "OrderPlaced",
  `{"n":${position}}`,
  `command-${position}`,
  `command-${position}`,
  `command-${position}`,
  position % 2 === 0 ? null : "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  String(1_700_000_000_000 + position),
  String(1_700_000_000_000 + position),
  position % 3 === 0 ? "svc" : null,
  "1",
];

/** The event log and the checkpoint row, in memory. */
class MemorySession implements RelaySession {
  readonly log: StoredEventColumns[];
  checkpoint = { position: 0, eventId: undefined as string | undefined };
  readonly reads: { after: number; limit: number }[] = [];

  constructor(events: number) {
    this.log = Array.from({ length: events }, (_, i) => row(i + 1));
  }
  async tryLock() {
    return { locked: true as const };
  }
  async unlock() {}
  async readCheckpoint() {
    return this.checkpoint;
  }
  async writeCheckpoint(position: number, eventId: string | undefined) {
    if (position >= this.checkpoint.position) this.checkpoint = { position, eventId };
  }
  async headAfter(position: number) {
    return { head: this.log.length, nextCommittedMs: this.log[position] ? Number(this.log[position][11]) : undefined };
  }
  async read(after: number, limit: number): Promise<OutboxPage> {
    this.reads.push({ after, limit });
    await new Promise((resolve) => setImmediate(resolve));
    const atCursor = this.log.find((r) => r[0] === String(after));
    return {
      eventIdAtCursor: after > 0 ? atCursor?.[1] : undefined,
      rows: this.log.filter((r) => Number(r[0]) > after).slice(0, limit),
    };
  }
  async close() {}
}

interface FakeBatch extends InFlightBatch {
  settle(error?: PublishFailedError): void;
}

/** Keeps every message; acks each batch on the next turn unless `manual`, then the test settles them. */
class MemoryPublisher implements BatchPublisher {
  readonly messages: OutgoingMessage[] = [];
  readonly batches: FakeBatch[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly manual = false) {}

  publish(messages: readonly OutgoingMessage[]): InFlightBatch {
    this.messages.push(...messages);
    this.inFlight += messages.length;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let resolve!: () => void;
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    const batch = {
      count: messages.length,
      ackedAt: new Float64Array(messages.length).fill(Date.now()),
      duplicates: 0,
      settled: false,
      error: undefined as PublishFailedError | undefined,
      done,
      settle: (error?: PublishFailedError) => {
        if (batch.settled) return;
        batch.settled = true;
        batch.error = error;
        this.inFlight -= messages.length;
        resolve();
      },
    };
    this.batches.push(batch);
    if (!this.manual) setImmediate(() => batch.settle());
    return batch;
  }
}

function pipeline(options: { batchSize: number; maxInFlight: number; continuity?: ContinuityCheck }) {
  const acked: AckedBatch[] = [];
  let stopping = false;
  const wakeup = new Wakeup();
  const metrics = registerRelayMetrics(new Registry(), {
    lagEvents: () => 0,
    lagSeconds: () => 0,
    isActive: () => true,
    isDiverged: () => false,
  });
  const p = new PublishPipeline({
    bus,
    batchSize: options.batchSize,
    maxInFlight: options.maxInFlight,
    pollIntervalMs: 20,
    ackTimeoutMs: 1_000,
    metrics,
    wakeup,
    continuity: options.continuity,
    onAcked: (batch) => acked.push(batch),
    withTraceparents: false,
    upcasters: undefined,
    stopping: () => stopping,
    checkSession: () => undefined,
    natsConnected: () => true,
    onIdle: async () => undefined,
  });
  const stop = () => {
    stopping = true;
    wakeup.fire();
  };
  return { p, acked, stop, wakeup };
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const until = async (condition: () => boolean) => {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
};

describe("PublishPipeline (in-memory ports)", () => {
  it.each([
    [1000, 4096],
    [7, 20],
    [64, 64],
  ])(
    "drains a backlog with batch %i and window %i: in order, each once, chained, within the window",
    async (batchSize, maxInFlight) => {
      const session = new MemorySession(2_345);
      const publisher = new MemoryPublisher();
      const { p, acked, stop } = pipeline({ batchSize, maxInFlight });
      await p.resume(session, { checkpoint: 0, position: 0, eventId: undefined, streamLastSeq: 10 });
      const running = p.run(session, publisher);
      await until(() => p.acked === 2_345);
      stop();
      await running;
      expect(publisher.messages.map((m) => text(m.data).split(":")[0])).toEqual(
        Array.from({ length: 2_345 }, (_, i) => String(i + 1)),
      );
      // Every message expects the one before it (the stream's last sequence was 10).
      publisher.messages.forEach((m, i) => {
        expect(text(m.headers.encode())).toContain(`Nats-Expected-Last-Sequence: ${10 + i}\r\n`);
      });
      expect(publisher.maxInFlight).toBeLessThanOrEqual(maxInFlight);
      expect(acked.at(-1)?.lastPosition).toBe(2_345);
      expect(session.checkpoint).toEqual({ position: 2_345, eventId: "event-2345" });
      // Read ahead: a read after a full batch starts at that batch's last position.
      expect(session.reads.slice(0, 3).map((r) => r.after)).toEqual([
        0,
        Math.min(batchSize, maxInFlight),
        2 * Math.min(batchSize, maxInFlight),
      ]);
    },
  );

  it("never checkpoints past a failed batch, and throws its error", async () => {
    const session = new MemorySession(30);
    const publisher = new MemoryPublisher(true);
    const { p } = pipeline({ batchSize: 10, maxInFlight: 30 });
    await p.resume(session, { checkpoint: 0, position: 0, eventId: undefined, streamLastSeq: 0 });
    const running = p.run(session, publisher);
    await until(() => publisher.batches.length === 3);
    publisher.batches[0]?.settle();
    publisher.batches[1]?.settle(new PublishFailedError("nack"));
    publisher.batches[2]?.settle();
    await expect(running).rejects.toBeInstanceOf(PublishFailedError);
    expect(p.acked).toBe(10);
    await p.harvest(session, true).catch(() => undefined);
    expect(session.checkpoint).toEqual({ position: 10, eventId: "event-10" });
  });

  it("stops publishing when the store no longer holds the event published last", async () => {
    const session = new MemorySession(10);
    const publisher = new MemoryPublisher();
    const { p, wakeup } = pipeline({ batchSize: 100, maxInFlight: 100, continuity: { diverges: async () => "gone" } });
    await p.resume(session, { checkpoint: 5, position: 5, eventId: "event-5", streamLastSeq: 5 });
    const running = p.run(session, publisher);
    await until(() => p.acked === 10);
    // A restore: a different event now sits at position 10.
    (session.log as unknown as StoredEventColumns[])[9] = [
      "10",
      "another-event",
      ...row(10).slice(2),
    ] as unknown as StoredEventColumns;
    session.log.push(row(11));
    p.noteCommit(11);
    wakeup.fire();
    const error = await running.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreWentBackError);
    expect((error as StoreWentBackError).position).toBe(10);
    expect(publisher.messages).toHaveLength(5);
  });

  it("on stop, waits for the acks in flight and writes the checkpoint", async () => {
    const session = new MemorySession(20);
    const publisher = new MemoryPublisher(true);
    const { p, stop } = pipeline({ batchSize: 10, maxInFlight: 20 });
    await p.resume(session, { checkpoint: 0, position: 0, eventId: undefined, streamLastSeq: 0 });
    const running = p.run(session, publisher);
    await until(() => publisher.batches.length === 2);
    stop();
    publisher.batches[0]?.settle();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(session.checkpoint.position).toBeLessThan(20);
    publisher.batches[1]?.settle();
    await running;
    expect(session.checkpoint).toEqual({ position: 20, eventId: "event-20" });
  });
});
