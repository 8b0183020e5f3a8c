import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { WaitOutcome } from "./position-watcher.js";
import type { QueryObserver } from "./queries.js";
import type { ReadModelName } from "./read-models.js";

const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The query service's own metrics (the gRPC server adds per-call totals of its own). */
export class QueryMetrics implements QueryObserver {
  readonly queryDuration: Histogram<"rpc" | "code">;
  private readonly waitDuration: Histogram<"read_model" | "outcome">;
  private readonly waitTimeouts: Counter<"read_model">;
  private readonly commandToVisible: Histogram<"read_model">;

  constructor(
    registry: Registry,
    live: {
      readonly waiters: () => number;
      readonly streams: () => number;
      readonly positions: () => Record<ReadModelName, number>;
    },
  ) {
    const registers = [registry];
    const latency = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Histogram({ name, help, labelNames, buckets: latencyBuckets, registers });
    this.queryDuration = latency(
      "query_duration_seconds",
      "Latency of query RPCs, including any read-your-writes wait, by RPC and status code.",
      ["rpc", "code"],
    );
    this.waitDuration = latency(
      "query_wait_duration_seconds",
      "Time read-your-writes queries waited for min_position, by read model and outcome.",
      ["read_model", "outcome"],
    );
    this.waitTimeouts = new Counter({
      name: "query_wait_timeouts_total",
      help: "Read-your-writes waits that ran out of budget (answered UNAVAILABLE).",
      labelNames: ["read_model"],
      registers,
    });
    this.commandToVisible = new Histogram({
      name: "query_command_to_visible_seconds",
      help: "From committed_at of the event at min_position to the read-your-writes query that saw it.",
      labelNames: ["read_model"],
      buckets: [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    new Gauge({
      name: "query_waiters",
      help: "Read-your-writes queries waiting for min_position right now.",
      registers,
      collect() {
        this.set(live.waiters());
      },
    });
    new Gauge({
      name: "query_wait_streams",
      help: "WaitForPosition streams open right now.",
      registers,
      collect() {
        this.set(live.streams());
      },
    });
    new Gauge({
      name: "query_read_model_position",
      help: "Latest checkpoint of each read model known to the query service.",
      labelNames: ["read_model"],
      registers,
      collect() {
        for (const [readModel, position] of Object.entries(live.positions()))
          this.set({ read_model: readModel }, position);
      },
    });
  }

  waited(readModel: ReadModelName, outcome: WaitOutcome, seconds: number): void {
    this.waitDuration.observe({ read_model: readModel, outcome }, seconds);
    if (outcome === "timeout") this.waitTimeouts.inc({ read_model: readModel });
  }

  commandVisible(readModel: ReadModelName, seconds: number): void {
    this.commandToVisible.observe({ read_model: readModel }, seconds);
  }
}
