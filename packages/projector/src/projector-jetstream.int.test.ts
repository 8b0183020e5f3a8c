import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import { testRecordedEvent } from "@orderly/eventsourcing/testing";
import { headersOf, RawHeaders } from "@orderly/library-internals/nats";
import { createTestEnvironment, type TestEnvironment } from "@orderly/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { JetStreamSource } from "./jetstream-consumer.js";
import { CheckpointMovedError, type EventLog, type Projection } from "./projection.js";
import { Projector } from "./projector.js";

function event(position: number): RecordedEvent {
  return testRecordedEvent(position, { committedAt: new Date() });
}

class MemoryLog implements EventLog {
  events: RecordedEvent[] = [];
  failReads = false;
  async readAll(after: Position, limit: number): Promise<readonly RecordedEvent[]> {
    if (this.failReads) throw new Error("event store down");
    return this.events.slice(after, after + limit);
  }
  async headPosition(): Promise<Position> {
    return this.events.length;
  }
}

class RecordingProjection implements Projection {
  readonly name = "recording";
  applied: number[] = [];
  cp = 0;
  async checkpoint(): Promise<Position> {
    return this.cp;
  }
  async apply(events: readonly RecordedEvent[], after: Position): Promise<void> {
    if (after !== this.cp) throw new CheckpointMovedError(this.name, after, this.cp, "test");
    for (const e of events) this.applied.push(e.position);
    this.cp = (events[events.length - 1] as RecordedEvent).position;
  }
}

let env: TestEnvironment;
let nc: NatsConnection;
let stream: string;
let subjects: string;
let count = 0;
const running: Projector[] = [];

beforeAll(async () => {
  env = await createTestEnvironment();
  nc = await connect({ servers: env.natsUrl });
  stream = `${env.namespace.toUpperCase()}_PJ`;
  subjects = `${env.namespace}.pj`;
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${subjects}.>`] });
});

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
});

afterAll(async () => {
  await nc?.close();
  await env?.cleanup();
});

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A fresh subject and consumer per test; events are published as JSON (the runtime is codec-agnostic). */
async function setup() {
  const n = ++count;
  const subject = `${subjects}.${n}`;
  const consumer = `c${n}`;
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const log = new MemoryLog();
  const publish = async (from: number, to: number) => {
    for (let p = from; p <= to; p++) {
      log.events.push(event(p));
      await js.publish(subject, JSON.stringify({ position: p }));
    }
  };
  const source: JetStreamSource = {
    js,
    jsm,
    stream,
    consumer,
    filterSubject: subject,
    decode: (data) => event((JSON.parse(new TextDecoder().decode(data)) as { position: number }).position),
  };
  const start = async (projection: Projection) => {
    const projector = new Projector({ projection, eventLog: log, source, tickMs: 50, retryBaseMs: 5, retryMaxMs: 50 });
    running.push(projector);
    await projector.start();
    return projector;
  };
  const info = () => jsm.consumers.info(stream, consumer);
  return { jsm, log, publish, start, info, consumer, subject };
}

describe("Projector on a JetStream durable consumer", () => {
  it("creates the consumer with ack_policy all and acknowledges every applied message with one ack per batch", async () => {
    const t = await setup();
    await t.publish(1, 250);
    const projection = new RecordingProjection();
    await t.start(projection);
    await until(() => projection.cp === 250, "applied");
    expect(projection.applied).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    expect((await t.info()).config.ack_policy).toBe(AckPolicy.All);
    await until(async () => {
      const info = await t.info();
      return info.ack_floor.stream_seq === info.delivered.stream_seq && info.num_ack_pending === 0;
    }, "everything acknowledged");
  });

  it("recreates a consumer left with ack_policy explicit, starting after its ack floor", async () => {
    const t = await setup();
    await t.publish(1, 40);
    // An older projector: explicit acks, the first 30 messages acknowledged (and applied: acks follow commits).
    await t.jsm.consumers.add(stream, {
      durable_name: t.consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: t.subject,
    });
    const consumer = await jetstream(nc).consumers.get(stream, t.consumer);
    const old = await consumer.fetch({ max_messages: 30 });
    for await (const m of old) m.ack();
    await until(async () => (await t.info()).ack_floor.stream_seq > 0, "old acks recorded");
    const floor = (await t.info()).ack_floor.stream_seq;
    const projection = new RecordingProjection();
    projection.cp = 30;
    await t.publish(41, 60);
    await t.start(projection);
    await until(() => projection.cp === 60, "applied");
    const info = await t.info();
    expect(info.config.ack_policy).toBe(AckPolicy.All);
    expect(info.config.deliver_policy).toBe(DeliverPolicy.StartSequence);
    expect(info.config.opt_start_seq).toBe(floor + 1);
    expect(projection.applied).toEqual(Array.from({ length: 30 }, (_, i) => i + 31));
    await until(async () => (await t.info()).num_ack_pending === 0, "everything acknowledged");
  });

  it("leaves a failed batch unacknowledged (nak) and applies it once the trouble is over", async () => {
    const t = await setup();
    const projection = new RecordingProjection();
    await t.start(projection);
    await t.publish(1, 10);
    await until(() => projection.cp === 10, "first events");
    // A batch that starts above the checkpoint needs a gap fetch, and the event store is down: the batch fails.
    t.log.events.push(event(11));
    t.log.failReads = true;
    await t.publish(12, 20);
    await new Promise((r) => setTimeout(r, 300));
    expect(projection.cp).toBe(10);
    expect((await t.info()).num_ack_pending).toBeGreaterThan(0);
    t.log.failReads = false;
    await until(() => projection.cp === 20, "healed");
    expect(projection.applied).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await until(async () => (await t.info()).num_ack_pending === 0, "everything acknowledged");
  });

  it("reads header values from the raw block exactly as nats.js's parsed headers answer", async () => {
    const n = ++count;
    const subject = `${subjects}.h${n}`;
    const js = jetstream(nc);
    const blocks: [string, string][][] = [
      [],
      [["Orderly-Committed-At", "1764136801456"]],
      [
        ["Nats-Msg-Id", "e-1"],
        ["Orderly-Position", "42"],
        ["Orderly-Stream", "order-4bf92f35-77b3-4da6-a3ce-929d0e0e4736"],
        ["Orderly-Type", "OrderPlaced"],
        ["Orderly-Committed-At-Not", "1"],
        ["orderly-committed-at", "2"],
        ["Orderly-Committed-At", "  1764136801456  "],
        ["Orderly-Committed-At", "3"],
        ["traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
        ["X-Empty", ""],
        ["X-Unicode", "grüße 😀"],
      ],
    ];
    for (const block of blocks) {
      const h = natsHeaders();
      for (const [k, v] of block) h.append(k, v);
      await js.publish(subject, new Uint8Array([1, 2, 3]), block.length > 0 ? { headers: h } : {});
    }
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(stream, { durable_name: `h${n}`, ack_policy: AckPolicy.None, filter_subject: subject });
    const messages = await (await js.consumers.get(stream, `h${n}`)).fetch({ max_messages: blocks.length });
    const names = [
      "Orderly-Committed-At",
      "orderly-committed-at",
      "Orderly-Committed-At-Not",
      "Orderly-Position",
      "Nats-Msg-Id",
      "traceparent",
      "X-Empty",
      "X-Unicode",
      "Missing",
      "Orderly",
    ];
    let seen = 0;
    for await (const m of messages) {
      const raw = headersOf(m);
      // The pinned nats.js has the internals this reads (an upgrade that changes them fails here, not silently).
      if (seen > 0) expect(raw).toBeInstanceOf(RawHeaders);
      for (const name of names) expect(raw.get(name), name).toBe(m.headers?.get(name) ?? "");
      expect([...m.data]).toEqual([1, 2, 3]);
      if (++seen === blocks.length) break;
    }
    expect(seen).toBe(blocks.length);
  });
});
