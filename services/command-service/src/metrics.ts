import type { ErrorCode } from "@orderly/eventsourcing";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** A command's outcome: accepted, a duplicate (an idempotent retry), or the code of the error it ended with. */
export type CommandOutcomeLabel = "accepted" | "duplicate" | ErrorCode | "cancelled" | "internal";

/** Seconds, from 0.5 ms (a cached decision, a small batch) to 5 s (a stalled database). */
const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The continuity gate's state, sampled at each scrape. */
export function registerContinuityMetrics(
  registry: Registry,
  gate: { readonly diverged: boolean; readonly unverified: boolean },
): void {
  new Gauge({
    name: "orderly_store_diverged",
    help: "1 while the event store is behind or differs from the event stream: appends are refused (run pnpm orderly recover).",
    registers: [registry],
    collect() {
      this.set(gate.diverged ? 1 : 0);
    },
  });
  new Gauge({
    name: "orderly_store_continuity_unverified",
    help: "1 while the event stream cannot be reached to check the store's continuity: appends go through unchecked.",
    registers: [registry],
    collect() {
      this.set(gate.unverified ? 1 : 0);
    },
  });
}

export interface CommandMetrics {
  observe(command: string, outcome: CommandOutcomeLabel, seconds: number): void;
}

/** Commands by type and outcome, and their latency (edge to reply), registered on `registry`. */
export function createCommandMetrics(registry: Registry, retries: () => number): CommandMetrics {
  const total = new Counter({
    name: "orderly_commands_total",
    help: "Commands handled, by command type and outcome (accepted, duplicate, or the error code).",
    labelNames: ["command", "outcome"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "orderly_command_duration_seconds",
    help: "Time from receiving a command to its reply, by command type and outcome.",
    labelNames: ["command", "outcome"] as const,
    buckets: latencyBuckets,
    registers: [registry],
  });
  new Counter({
    name: "orderly_command_version_retries_total",
    help: "Commands without expected_version that lost a version race and were retried on a fresh read.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(retries());
    },
  });
  // Label lookups hash the label set on every call: keep the bound children (a bounded set: 4 commands × 10 outcomes).
  const bound = new Map<string, { total: Counter.Internal; duration: Histogram.Internal<"command" | "outcome"> }>();
  return {
    observe(command, outcome, seconds) {
      const id = `${command}\u0000${outcome}`;
      let children = bound.get(id);
      if (children === undefined) {
        children = { total: total.labels(command, outcome), duration: duration.labels(command, outcome) };
        bound.set(id, children);
      }
      children.total.inc();
      children.duration.observe(seconds);
    },
  };
}

/** The event store's group commit, as counters: commands per transaction is what makes the write path cheap. */
export function registerAppendStats(
  registry: Registry,
  stats: () => { readonly batches: number; readonly commands: number; readonly largestBatch: number },
): void {
  new Counter({
    name: "orderly_event_store_append_batches_total",
    help: "Append transactions (group commits) the event store ran.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().batches);
    },
  });
  new Counter({
    name: "orderly_event_store_append_commands_total",
    help: "Commands appended by those transactions.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().commands);
    },
  });
}

/** The round trip of each append transaction (group commit), from the store's `onBatch`. */
export function createAppendDurationMetric(registry: Registry): (commands: number, seconds: number) => void {
  const duration = new Histogram({
    name: "orderly_event_store_append_seconds",
    help: "Round trip of one append transaction (a group commit of one or more commands), committed or not.",
    buckets: latencyBuckets,
    registers: [registry],
  });
  return (_commands, seconds) => duration.observe(seconds);
}
