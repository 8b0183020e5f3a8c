import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** Projector metrics, all labelled by `projection`; shared when several projectors use one registry. */
export interface ProjectorMetrics {
  readonly checkpoint: Gauge<"projection">;
  readonly lagEvents: Gauge<"projection">;
  readonly lagSeconds: Gauge<"projection">;
  readonly batchSize: Histogram<"projection">;
  readonly batchDuration: Histogram<"projection">;
  readonly applied: Counter<"projection">;
  readonly gapFetches: Counter<"projection">;
  readonly gapEvents: Counter<"projection">;
  readonly poisoned: Gauge<"projection">;
  readonly retries: Counter<"projection">;
  readonly resets: Counter<"projection" | "reason">;
  readonly undecodable: Counter<"projection">;
  /** 1 while the event store is behind or differs from what this process saw (one per process, no labels). */
  readonly storeDiverged: Gauge;
}

function reuse<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function projectorMetrics(registry: Registry): ProjectorMetrics {
  const registers = [registry];
  const labelNames = ["projection"] as const;
  return {
    checkpoint: reuse(
      registry,
      "projection_checkpoint_position",
      () =>
        new Gauge({
          name: "projection_checkpoint_position",
          help: "Global position of the last event applied to the read model",
          labelNames,
          registers,
        }),
    ),
    lagEvents: reuse(
      registry,
      "projection_lag_events",
      () =>
        new Gauge({
          name: "projection_lag_events",
          help: "Committed events the read model has not applied yet",
          labelNames,
          registers,
        }),
    ),
    lagSeconds: reuse(
      registry,
      "projection_lag_seconds",
      () =>
        new Gauge({
          name: "projection_lag_seconds",
          help: "Age of the oldest committed event the read model has not applied yet; 0 when caught up",
          labelNames,
          registers,
        }),
    ),
    batchSize: reuse(
      registry,
      "projection_batch_size_events",
      () =>
        new Histogram({
          name: "projection_batch_size_events",
          help: "Events per committed projection batch",
          labelNames,
          buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
          registers,
        }),
    ),
    batchDuration: reuse(
      registry,
      "projection_batch_duration_seconds",
      () =>
        new Histogram({
          name: "projection_batch_duration_seconds",
          help: "Time to apply and commit one projection batch",
          labelNames,
          buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
          registers,
        }),
    ),
    applied: reuse(
      registry,
      "projection_events_applied_total",
      () =>
        new Counter({
          name: "projection_events_applied_total",
          help: "Events applied to the read model",
          labelNames,
          registers,
        }),
    ),
    gapFetches: reuse(
      registry,
      "projection_gap_fetches_total",
      () =>
        new Counter({
          name: "projection_gap_fetches_total",
          help: "Times missing positions were fetched from the event store instead of JetStream",
          labelNames,
          registers,
        }),
    ),
    gapEvents: reuse(
      registry,
      "projection_gap_events_total",
      () =>
        new Counter({
          name: "projection_gap_events_total",
          help: "Events fetched from the event store by gap fetches and catch-up",
          labelNames,
          registers,
        }),
    ),
    poisoned: reuse(
      registry,
      "projection_poisoned",
      () =>
        new Gauge({
          name: "projection_poisoned",
          help: "Position of the event the projection is stopped at (its handler keeps failing); 0 when healthy",
          labelNames,
          registers,
        }),
    ),
    retries: reuse(
      registry,
      "projection_retries_total",
      () =>
        new Counter({
          name: "projection_retries_total",
          help: "Failed batch attempts that were retried",
          labelNames,
          registers,
        }),
    ),
    resets: reuse(
      registry,
      "projection_checkpoint_resets_total",
      () =>
        new Counter({
          name: "projection_checkpoint_resets_total",
          help: "Times the durable checkpoint was not where the projector left it (swap, lost data, other writer)",
          labelNames: ["projection", "reason"],
          registers,
        }),
    ),
    undecodable: reuse(
      registry,
      "projection_undecodable_messages_total",
      () =>
        new Counter({
          name: "projection_undecodable_messages_total",
          help: "JetStream messages that could not be decoded (their events come from the event store instead)",
          labelNames,
          registers,
        }),
    ),
    storeDiverged: reuse(
      registry,
      "orderly_store_diverged",
      () =>
        new Gauge({
          name: "orderly_store_diverged",
          help: "1 while the event store is behind or differs from what this process saw (run pnpm orderly recover)",
          registers,
        }),
    ),
  };
}
