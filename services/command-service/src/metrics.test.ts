import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createAppendDurationMetric, createCommandMetrics, registerAppendStats } from "./metrics.js";

describe("command metrics", () => {
  it("counts by command and outcome, times them, and reports retries", async () => {
    const registry = new Registry();
    let retries = 0;
    const metrics = createCommandMetrics(registry, () => retries);
    metrics.observe("CreateOrder", "accepted", 0.002);
    metrics.observe("CreateOrder", "accepted", 0.004);
    metrics.observe("ShipOrder", "failed_precondition", 0.001);
    retries = 3;
    const text = await registry.metrics();
    expect(text).toContain('orderly_commands_total{command="CreateOrder",outcome="accepted"} 2');
    expect(text).toContain('orderly_commands_total{command="ShipOrder",outcome="failed_precondition"} 1');
    expect(text).toContain('orderly_command_duration_seconds_count{command="CreateOrder",outcome="accepted"} 2');
    expect(text).toContain(
      'orderly_command_duration_seconds_bucket{le="0.0025",command="CreateOrder",outcome="accepted"} 1',
    );
    expect(text).toContain("orderly_command_version_retries_total 3");
  });

  it("exports the store's group-commit counters", async () => {
    const registry = new Registry();
    registerAppendStats(registry, () => ({ batches: 4, commands: 100, largestBatch: 64 }));
    const text = await registry.metrics();
    expect(text).toContain("orderly_event_store_append_batches_total 4");
    expect(text).toContain("orderly_event_store_append_commands_total 100");
  });

  it("times each append transaction", async () => {
    const registry = new Registry();
    const onBatch = createAppendDurationMetric(registry);
    onBatch(16, 0.003);
    onBatch(1, 0.04);
    const text = await registry.metrics();
    expect(text).toContain("orderly_event_store_append_seconds_count 2");
    expect(text).toContain('orderly_event_store_append_seconds_bucket{le="0.005"} 1');
    expect(text).toContain('orderly_event_store_append_seconds_bucket{le="0.05"} 2');
  });
});
