import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import { testRecordedEvent } from "@orderly/eventsourcing/testing";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import {
  CheckpointMovedError,
  type ContinuityCheck,
  type EventLog,
  type Logger,
  type Projection,
  ProjectionHandlerError,
} from "./projection.js";
import { Projector } from "./projector.js";

function event(position: number, traceparent?: string): RecordedEvent {
  return testRecordedEvent(position, { committedAt: new Date(Date.now() - 1000) }, traceparent ? { traceparent } : {});
}

/** 1, 2, …, `count`: the positions of a log's first `count` events. */
const firstPositions = (count: number) => Array.from({ length: count }, (_, i) => i + 1);

/** A log of `count` events. */
function logWith(count: number): MemoryLog {
  const log = new MemoryLog();
  log.append(count);
  return log;
}

class MemoryLog implements EventLog {
  events: RecordedEvent[] = [];
  append(count: number, traceparents: Record<number, string> = {}): void {
    for (let i = 0; i < count; i++) {
      const position = this.events.length + 1;
      this.events.push(event(position, traceparents[position]));
    }
  }
  async readAll(after: Position, limit: number): Promise<readonly RecordedEvent[]> {
    return this.events.slice(after, after + limit);
  }
  async headPosition(): Promise<Position> {
    return this.events.length;
  }
}

/** A log after a recovery: positions may be missing, and `retired` says which holes a recovery recorded. */
class GappedLog implements EventLog {
  events: RecordedEvent[] = [];
  retired: { first: number; last: number }[] = [];
  retiredReads = 0;
  add(first: number, last: number): void {
    for (let p = first; p <= last; p++) this.events.push(event(p));
  }
  async readAll(after: Position, limit: number): Promise<readonly RecordedEvent[]> {
    return this.events.filter((e) => e.position > after).slice(0, limit);
  }
  async headPosition(): Promise<Position> {
    return this.events[this.events.length - 1]?.position ?? 0;
  }
  async retiredBetween(after: Position, upTo: Position) {
    this.retiredReads++;
    return this.retired.filter((r) => r.last > after && r.first <= upTo);
  }
}

/** Records applied positions; fails (as a handler would) on positions in `poison`, transiently `transient` times. */
class RecordingProjection implements Projection {
  readonly name = "recording";
  checkpointMark?: () => Promise<{ position: number; eventId: string | undefined }>;
  applied: number[] = [];
  cp = 0;
  poison = new Set<number>();
  transient = 0;
  async checkpoint(): Promise<Position> {
    return this.cp;
  }
  /** Folds before it writes, as the real read models do: a stale base fails as a handler error, not as a move. */
  foldsFirst = false;
  async apply(events: readonly RecordedEvent[], after: Position): Promise<void> {
    if (after !== this.cp && this.foldsFirst) {
      throw new ProjectionHandlerError((events[0] as RecordedEvent).position, "stream version does not follow");
    }
    if (after !== this.cp) throw new CheckpointMovedError(this.name, after, this.cp, "test");
    if (this.transient > 0) {
      this.transient--;
      throw Object.assign(new Error("connection reset"), { transient: true });
    }
    const bad = events.find((e) => this.poison.has(e.position));
    if (bad) throw new ProjectionHandlerError(bad.position, "cannot apply");
    for (const e of events) this.applied.push(e.position);
    this.cp = (events[events.length - 1] as RecordedEvent).position;
  }
  isTransient(error: unknown): boolean {
    return (error as { transient?: boolean }).transient === true;
  }
}

const running: Projector[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
});

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The store's side of a mark, over the memory log (ids `e-<position>`). */
class MemoryContinuity implements ContinuityCheck {
  checks = 0;
  constructor(private readonly log: MemoryLog) {}
  async diverges(mark: { position: number; eventId: string | undefined }, what: string): Promise<string | undefined> {
    this.checks++;
    if (mark.position === 0) return undefined;
    const held = this.log.events[mark.position - 1];
    if (!held) return `the store is behind ${what}: ${mark.position} > ${this.log.events.length}`;
    if (mark.eventId !== undefined && held.metadata.eventId !== mark.eventId) return `${what} differs`;
    return undefined;
  }
}

function start(
  log: EventLog,
  projection: RecordingProjection,
  registry = new Registry(),
  logger?: Logger,
  continuity?: ContinuityCheck,
): Projector {
  const projector = new Projector({
    projection,
    eventLog: log,
    registry,
    ...(logger ? { logger } : {}),
    ...(continuity ? { continuity, continuityRetryMs: 20 } : {}),
    tickMs: 20,
    retryBaseMs: 1,
    retryMaxMs: 5,
    maxAttempts: 3,
    poisonRetryMs: 20,
    catchUpBatchSize: 16,
  });
  running.push(projector);
  return projector;
}

describe("Projector (event log only)", () => {
  it.each([
    { title: "applies every event once, in order", events: 100, transient: 0 },
    { title: "retries transient failures without declaring poison", events: 20, transient: 6 },
  ])("$title", async ({ events, transient }) => {
    const log = logWith(events);
    const projection = new RecordingProjection();
    projection.transient = transient;
    const projector = start(log, projection);
    await projector.start();
    await until(() => projection.cp === events, "caught up");
    expect(projection.applied).toEqual(firstPositions(events));
  });

  it("stops at a poison event without skipping it, reports it, and resumes once it applies", async () => {
    const log = logWith(60);
    const projection = new RecordingProjection();
    projection.poison.add(37);
    const registry = new Registry();
    const projector = start(log, projection, registry);
    await projector.start();
    await until(() => projector.status().poisoned !== undefined, "poisoned");
    expect(projector.status().poisoned?.position).toBe(37);
    expect(projection.cp).toBe(36);
    expect(projector.ready()).toBe(false);
    expect((await registry.getSingleMetric("projection_poisoned")?.get())?.values[0]?.value).toBe(37);
    await new Promise((r) => setTimeout(r, 100));
    expect(projection.cp).toBe(36);
    projection.poison.clear();
    await until(() => projection.cp === 60, "resumed");
    expect(projector.ready()).toBe(true);
    expect(projection.applied).toEqual(firstPositions(60));
    expect((await registry.getSingleMetric("projection_poisoned")?.get())?.values[0]?.value).toBe(0);
  });

  it("replays from the event log when the durable checkpoint goes backwards (lost read model)", async () => {
    const log = logWith(30);
    const projection = new RecordingProjection();
    const projector = start(log, projection);
    await projector.start();
    await until(() => projection.cp === 30, "caught up");
    projection.cp = 0;
    projection.applied = [];
    log.append(5);
    await until(() => projection.cp === 35, "rebuilt");
    expect(projection.applied).toEqual(firstPositions(35));
  });

  it("stops when its checkpoint is ahead of the store, says so once, and resumes when the store holds its mark", async () => {
    const lines: { level: string; msg: string | undefined }[] = [];
    const capture = (level: string) => (_obj: object, msg?: string) => lines.push({ level, msg });
    const logger: Logger = { info: capture("info"), warn: capture("warn"), error: capture("error") };
    const log = logWith(30);
    const projection = new RecordingProjection();
    projection.cp = 50; // e.g. Redis kept its checkpoint while Postgres was restored from an older backup
    projection.checkpointMark = async () => ({ position: projection.cp, eventId: `e-${projection.cp}` });
    const registry = new Registry();
    const continuity = new MemoryContinuity(log);
    const projector = start(log, projection, registry, logger, continuity);
    await projector.start();
    const diverged = async () => (await registry.getSingleMetric("orderly_store_diverged")?.get())?.values[0]?.value;
    expect(projector.ready()).toBe(false);
    expect(await diverged()).toBe(1);
    expect(projector.status().diverged).toMatch(/behind/);
    await until(() => continuity.checks >= 6, "several re-checks");
    expect(lines.filter((l) => l.level === "error")).toHaveLength(1);
    expect(projection.applied).toEqual([]);
    log.append(25); // the recovery refilled the store (same ids at the same positions), and more came
    await until(() => projection.cp === 55, "resumed");
    expect(projection.applied).toEqual([51, 52, 53, 54, 55]);
    expect(projector.ready()).toBe(true);
    expect(await diverged()).toBe(0);
    expect(lines.filter((l) => l.level === "error")).toHaveLength(1);
  });

  it("asks the durable checkpoint before a failing event counts as poison: a read model restored under it is a move", async () => {
    const log = logWith(30);
    const projection = new RecordingProjection();
    projection.foldsFirst = true;
    const projector = start(log, projection);
    await projector.start();
    await until(() => projection.cp === 30, "caught up");
    // The read model's database goes back to 10 right after the projector last read its checkpoint: the next batch
    // folds onto the restored rows and fails. (Before: poison at 31, for good.)
    let armed = true;
    const read = projection.checkpoint.bind(projection);
    projection.checkpoint = async () => {
      const position = await read();
      if (armed) {
        armed = false;
        projection.cp = 10;
        projection.applied = [];
      }
      return position;
    };
    log.append(5);
    await until(() => projection.cp === 35, "replayed from the restored checkpoint");
    expect(projection.applied).toEqual(Array.from({ length: 25 }, (_, i) => i + 11));
    expect(projector.status().poisoned).toBeUndefined();
  });

  it("catches up across positions a recovery retired, and stops at a hole no recovery explains", async () => {
    const log = new GappedLog();
    log.add(1, 20);
    log.retired.push({ first: 21, last: 40 }); // the store went back to 20 while downstream had seen up to 40
    log.add(41, 60);
    const projection = new RecordingProjection();
    const projector = start(log, projection);
    await projector.start();
    await until(() => projection.cp === 60, "caught up across the retired range");
    expect(projection.applied).toEqual([...firstPositions(20), ...Array.from({ length: 20 }, (_, i) => i + 41)]);
    expect(projector.ready()).toBe(true);

    // A hole nobody recorded (61..64 hold nothing, not retired): the projector stops at 60 and says so.
    log.add(65, 70);
    await until(() => projector.status().failing, "failing at the hole");
    await new Promise((r) => setTimeout(r, 100));
    expect(projection.cp).toBe(60);
    expect(projector.ready()).toBe(false);
    // Once a recovery records the hole (it retires 61..64), it goes on.
    log.retired.push({ first: 61, last: 64 });
    await until(() => projection.cp === 70, "resumed past the recorded hole");
    expect(projection.applied.slice(-6)).toEqual([65, 66, 67, 68, 69, 70]);
  });

  it("stands on the last event below a retired range that reaches the head, and goes on after it", async () => {
    const log = new GappedLog();
    log.add(1, 10);
    log.retired.push({ first: 11, last: 30 });
    const projection = new RecordingProjection();
    const projector = start(log, projection);
    await projector.start();
    await until(() => projection.cp === 10, "caught up");
    log.add(31, 35);
    await until(() => projection.cp === 35, "past the range");
    expect(projection.applied).toEqual([...firstPositions(10), 31, 32, 33, 34, 35]);
  });

  it("logs one info line per committed batch holding traced events, with the positions and traceparents", async () => {
    const lines: { level: string; obj: Record<string, unknown>; msg: string | undefined }[] = [];
    const capture = (level: string) => (obj: object, msg?: string) =>
      lines.push({ level, obj: obj as Record<string, unknown>, msg });
    const logger: Logger = { info: capture("info"), warn: capture("warn"), error: capture("error") };
    const a = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const b = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const log = new MemoryLog();
    // Batches of 16 (catchUpBatchSize): 1–16 has two traced events of one trace, 17–32 one of another, 33–40 none.
    log.append(40, { 5: a, 9: a, 20: b });
    const projection = new RecordingProjection();
    const projector = start(log, projection, new Registry(), logger);
    await projector.start();
    await until(() => projection.cp === 40, "caught up");
    const traced = lines.filter((l) => l.msg === "applied traced events");
    expect(traced).toEqual([
      {
        level: "info",
        msg: "applied traced events",
        obj: {
          projection: "recording",
          from: 1,
          to: 16,
          events: 16,
          traced: 2,
          traceparents: [a],
          traceIds: ["4bf92f3577b34da6a3ce929d0e0e4736"],
        },
      },
      {
        level: "info",
        msg: "applied traced events",
        obj: {
          projection: "recording",
          from: 17,
          to: 32,
          events: 16,
          traced: 1,
          traceparents: [b],
          traceIds: ["0af7651916cd43dd8448eb211c80319c"],
        },
      },
    ]);
  });
});
