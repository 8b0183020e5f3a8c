import { afterEach, describe, expect, it, vi } from "vitest";
import { MutableCheckpoint } from "./in-memory-read-models.js";
import { PositionWatcher } from "./position-watcher.js";

function watcher(checkpoints = new MutableCheckpoint(), pollIntervalMs = 0) {
  return new PositionWatcher({ name: "order_summaries", checkpoints, pollIntervalMs });
}

/** A watcher started on a stored checkpoint of `position`. */
async function startedAt(position: number): Promise<{ checkpoints: MutableCheckpoint; w: PositionWatcher }> {
  const checkpoints = new MutableCheckpoint();
  checkpoints.value = position;
  const w = watcher(checkpoints);
  await w.start();
  return { checkpoints, w };
}

/** A started watcher on fake timers. */
async function startedOnFakeTimers(): Promise<PositionWatcher> {
  vi.useFakeTimers();
  const w = watcher();
  await w.start();
  return w;
}

/** Nobody waits and no timer is left: by the watcher's own counts and by the fake clock's. */
function expectNothingLeft(w: PositionWatcher): void {
  expect(w.waiterCount).toBe(0);
  expect(w.timerCount).toBe(0);
  expect(vi.getTimerCount()).toBe(0);
}

afterEach(() => {
  vi.useRealTimers();
});

describe("PositionWatcher", () => {
  it("starts at the stored checkpoint and answers at once when the position is already reached", async () => {
    const { w } = await startedAt(7);
    expect(w.position).toBe(7);
    expect(w.isHealthy).toBe(true);
    await expect(w.waitFor(7, { timeoutMs: 1_000 })).resolves.toBe("reached");
    expect(w.waiterCount).toBe(0);
    expect(w.timerCount).toBe(0);
  });

  it("releases a waiter when the checkpoint announcement arrives, and only then", async () => {
    const w = await startedOnFakeTimers();
    let outcome: string | undefined;
    void w.waitFor(5, { timeoutMs: 10_000 }).then((o) => {
      outcome = o;
    });
    w.advance(4);
    await Promise.resolve();
    expect(outcome).toBeUndefined();
    expect(w.waiterCount).toBe(1);
    w.advance(5);
    await Promise.resolve();
    expect(outcome).toBe("reached");
    expectNothingLeft(w);
  });

  it("times out, removing the waiter and its timer", async () => {
    const w = await startedOnFakeTimers();
    const pending = w.waitFor(3, { timeoutMs: 500 });
    expect(w.waiterCount).toBe(1);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(499);
    expect(w.waiterCount).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(pending).resolves.toBe("timeout");
    expectNothingLeft(w);
    // A late checkpoint finds nobody to release.
    w.advance(3);
    expect(w.position).toBe(3);
  });

  it("cancels on abort, removing the waiter, its timer and its abort listener", async () => {
    const w = await startedOnFakeTimers();
    const controller = new AbortController();
    const pending = w.waitFor(3, { timeoutMs: 10_000, signal: controller.signal });
    controller.abort();
    await expect(pending).resolves.toBe("cancelled");
    expect(w.waiterCount).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    await expect(w.waitFor(3, { timeoutMs: 10_000, signal: controller.signal })).resolves.toBe("cancelled");
    expect(w.waiterCount).toBe(0);
  });

  it("does not keep abort listeners of waiters that were released", async () => {
    const w = watcher();
    await w.start();
    const controller = new AbortController();
    const add = vi.spyOn(controller.signal, "addEventListener");
    const remove = vi.spyOn(controller.signal, "removeEventListener");
    const pending = Array.from({ length: 10 }, (_, i) =>
      w.waitFor(i + 1, { timeoutMs: 10_000, signal: controller.signal }),
    );
    w.advance(10);
    await expect(Promise.all(pending)).resolves.toEqual(Array(10).fill("reached"));
    expect(add).toHaveBeenCalledTimes(10);
    expect(remove).toHaveBeenCalledTimes(10);
  });

  it("releases 1,000 concurrent waiters together in one checkpoint, leaving no timers", async () => {
    const w = await startedOnFakeTimers();
    const outcomes: string[] = [];
    const pending = Array.from({ length: 1_000 }, () =>
      w.waitFor(42, { timeoutMs: 30_000 }).then((o) => {
        outcomes.push(o);
        return o;
      }),
    );
    expect(w.waiterCount).toBe(1_000);
    expect(w.timerCount).toBe(1_000);
    expect(vi.getTimerCount()).toBe(1_000);
    w.advance(42);
    // Released synchronously by the announcement: no timer needs to fire.
    expectNothingLeft(w);
    await Promise.all(pending);
    expect(outcomes).toHaveLength(1_000);
    expect(new Set(outcomes)).toEqual(new Set(["reached"]));
  });

  it("releases exactly the waiters at or below the checkpoint, whatever order they came in", async () => {
    const w = watcher();
    await w.start();
    const targets = Array.from({ length: 1_000 }, (_, i) => ((i * 7919) % 1_000) + 1);
    const released = new Set<number>();
    const pending = targets.map((t) => w.waitFor(t, { timeoutMs: 30_000 }).then(() => released.add(t)));
    w.advance(500);
    await Promise.resolve();
    await Promise.resolve();
    expect(w.waiterCount).toBe(500);
    expect([...released].every((t) => t <= 500)).toBe(true);
    expect(released.size).toBe(500);
    w.advance(1_000);
    await Promise.all(pending);
    expect(released.size).toBe(1_000);
    expect(w.timerCount).toBe(0);
  });

  it("counts no leaks after a mix of reached, timed-out and cancelled waiters", async () => {
    const w = await startedOnFakeTimers();
    const controllers = Array.from({ length: 300 }, () => new AbortController());
    const pending = controllers.map((c, i) =>
      w.waitFor(i % 3 === 0 ? 10 : 1_000, { timeoutMs: 100 + i, signal: c.signal }),
    );
    for (const [i, c] of controllers.entries()) if (i % 3 === 1) c.abort();
    w.advance(10);
    await vi.advanceTimersByTimeAsync(1_000);
    const outcomes = await Promise.all(pending);
    expect(outcomes.filter((o) => o === "reached")).toHaveLength(100);
    expect(outcomes.filter((o) => o === "cancelled")).toHaveLength(100);
    expect(outcomes.filter((o) => o === "timeout")).toHaveLength(100);
    expectNothingLeft(w);
  });

  it("ignores announcements that arrive late and out of order", async () => {
    const w = watcher();
    await w.start();
    w.advance(9);
    w.advance(4);
    w.advance(Number.NaN);
    w.advance(-1);
    expect(w.position).toBe(9);
  });

  it("an announcement from the primary is not taken as the replica's position: it re-reads until the replica got there", async () => {
    const replica = new MutableCheckpoint();
    const w = new PositionWatcher({
      name: "order_summaries",
      checkpoints: replica,
      pollIntervalMs: 0,
      chaseIntervalMs: 1,
    });
    await w.start();
    let outcome: string | undefined;
    const pending = w.waitFor(5, { timeoutMs: 5_000 }).then((o) => {
      outcome = o;
      return o;
    });
    w.announce(5); // the primary committed 5; the replica has not replayed it yet
    await new Promise((r) => setTimeout(r, 30));
    expect(w.position).toBe(0);
    expect(outcome).toBeUndefined();
    replica.value = 5; // replayed
    await expect(pending).resolves.toBe("reached");
    expect(w.position).toBe(5);
    w.stop();
  });

  it("stops re-reading after chaseTimeoutMs when the replica never reaches the announcement", async () => {
    const replica = new MutableCheckpoint();
    let reads = 0;
    const counting = {
      checkpoint: () => {
        reads++;
        return replica.checkpoint();
      },
    };
    const w = new PositionWatcher({
      name: "order_summaries",
      checkpoints: counting,
      pollIntervalMs: 0,
      chaseIntervalMs: 1,
      chaseTimeoutMs: 30,
    });
    await w.start();
    w.announce(9);
    await new Promise((r) => setTimeout(r, 100));
    const after = reads;
    await new Promise((r) => setTimeout(r, 50));
    expect(reads).toBe(after);
    expect(w.position).toBe(0);
    w.stop();
  });

  it("the safety poll finds a position whose announcement was lost", async () => {
    vi.useFakeTimers();
    const checkpoints = new MutableCheckpoint();
    const w = watcher(checkpoints, 250);
    await w.start();
    const pending = w.waitFor(3, { timeoutMs: 5_000 });
    checkpoints.value = 3; // committed, but no announcement
    await vi.advanceTimersByTimeAsync(250);
    await expect(pending).resolves.toBe("reached");
    w.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("accepts a lower checkpoint from a re-read (a rebuilt read model), but not one that raced an announcement", async () => {
    const { checkpoints, w } = await startedAt(10);
    expect(w.position).toBe(10);

    // The read started at 10, an announcement of 11 arrived meanwhile: the read is stale.
    let open: () => void = () => {};
    checkpoints.gate = new Promise((r) => {
      open = r;
    });
    checkpoints.value = 5;
    const refresh = w.refresh();
    w.advance(11);
    open();
    await refresh;
    expect(w.position).toBe(11);

    checkpoints.gate = undefined;
    await w.refresh();
    expect(w.position).toBe(5);
  });

  it("reports unhealthy while the checkpoint cannot be read", async () => {
    const checkpoints = new MutableCheckpoint();
    const errors: unknown[] = [];
    const w = new PositionWatcher({
      name: "customer_orders",
      checkpoints,
      pollIntervalMs: 0,
      onError: (e) => errors.push(e),
    });
    checkpoints.failWith = new Error("connection refused");
    await w.start();
    expect(w.isHealthy).toBe(false);
    expect(errors).toHaveLength(1);
    checkpoints.failWith = undefined;
    checkpoints.value = 2;
    await w.refresh();
    expect(w.isHealthy).toBe(true);
    expect(w.position).toBe(2);
  });

  it("shares one checkpoint read between concurrent refreshes", async () => {
    const checkpoints = new MutableCheckpoint();
    const w = watcher(checkpoints);
    await Promise.all([w.refresh(), w.refresh(), w.refresh()]);
    expect(checkpoints.reads).toBe(1);
  });

  it("releases every waiter with 'stopped' on stop", async () => {
    const w = watcher();
    await w.start();
    const pending = [w.waitFor(1, { timeoutMs: 10_000 }), w.waitFor(2, { timeoutMs: 10_000 })];
    w.stop();
    await expect(Promise.all(pending)).resolves.toEqual(["stopped", "stopped"]);
    expect(w.timerCount).toBe(0);
    await expect(w.waitFor(3, { timeoutMs: 10 })).resolves.toBe("stopped");
  });

  it("tells listeners about every change after releasing the waiters", async () => {
    const w = watcher();
    await w.start();
    const seen: number[] = [];
    const off = w.onChange((p) => seen.push(p));
    w.advance(1);
    w.advance(1);
    w.advance(3);
    off();
    w.advance(4);
    expect(seen).toEqual([1, 3]);
  });
});
