import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** What the metrics read from the relay at scrape time. */
export interface LagSource {
  lagEvents(): number;
  lagSeconds(): number;
  isActive(): boolean;
  /** The event store is behind or differs from the stream / the checkpoint (publishing stopped). */
  isDiverged(): boolean;
}

export interface RelayMetrics {
  readonly published: Counter;
  readonly batches: Counter;
  readonly publishFailures: Counter;
  readonly latency: Histogram;
}

/** Registers the relay's metrics on `registry`. Lag and the active flag are computed when scraped. */
export function registerRelayMetrics(registry: Registry, source: LagSource): RelayMetrics {
  const registers = [registry];
  new Gauge({
    name: "outbox_lag_events",
    help: "Committed events not yet acknowledged by JetStream (head position minus acknowledged position).",
    registers,
    collect() {
      this.set(source.lagEvents());
    },
  });
  new Gauge({
    name: "outbox_lag_seconds",
    help: "Age of the oldest committed event not yet acknowledged by JetStream (0 when none).",
    registers,
    collect() {
      this.set(source.lagSeconds());
    },
  });
  new Gauge({
    name: "outbox_relay_active",
    help: "1 while this instance holds the relay lock and publishes, 0 while it waits as a standby.",
    registers,
    collect() {
      this.set(source.isActive() ? 1 : 0);
    },
  });
  new Gauge({
    name: "orderly_store_diverged",
    help: "1 while the event store is behind or differs from what this process saw (run pnpm orderly recover).",
    registers,
    collect() {
      this.set(source.isDiverged() ? 1 : 0);
    },
  });
  return {
    published: new Counter({
      name: "outbox_relay_events_published_total",
      help: "Events acknowledged by JetStream (duplicates included).",
      registers,
    }),
    batches: new Counter({
      name: "outbox_relay_batches_total",
      help: "Batches read from the event log and acknowledged by JetStream.",
      registers,
    }),
    publishFailures: new Counter({
      name: "outbox_relay_publish_failures_total",
      help: "Batches that JetStream did not acknowledge whole (refused, timed out, disconnected); each is retried.",
      registers,
    }),
    latency: new Histogram({
      name: "outbox_relay_publish_latency_seconds",
      help: "From the event's commit (committed_at) to its JetStream ack.",
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
  };
}
