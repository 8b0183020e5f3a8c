import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { startFakeOrderlyServer } from "./fake-orderly-server.js";
import { CREATE_ONLY } from "./mix.js";
import { runLoad } from "./run.js";
import { parseLagGauges, ServerLagSampler } from "./server-lag.js";

const PAGE = `# HELP projection_lag_seconds Age of the oldest committed event not applied yet
# TYPE projection_lag_seconds gauge
projection_lag_seconds{projection="order_summaries",instance="a"} 0.25
projection_lag_seconds{projection="customer_orders"} 1.5
projection_lag_events{projection="customer_orders"} 12
outbox_lag_seconds 0.004
`;

describe("parseLagGauges", () => {
  it("reads the projections' and the relay's lag gauges, nothing else", () => {
    expect(parseLagGauges(PAGE)).toEqual([
      ["order_summaries", 0.25],
      ["customer_orders", 1.5],
      ["outbox relay", 0.004],
    ]);
    expect(parseLagGauges("up 1\n")).toEqual([]);
  });
});

describe("ServerLagSampler", () => {
  it("keeps the largest value per series and second", () => {
    const s = new ServerLagSampler([], 1000, () => 0);
    s.observe(PAGE, 1100);
    s.observe(PAGE.replace("0.25", "0.75"), 1900);
    s.observe(PAGE.replace("1.5", "0.5"), 3200);
    expect(s.series(3)).toEqual({
      customer_orders: [1.5, null, 0.5],
      order_summaries: [0.75, null, 0.25],
      "outbox relay": [0.004, null, 0.004],
    });
  });

  it("samples a service's /metrics during a run into the report", async () => {
    const http = createServer((_, res) => res.end(PAGE));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const server = await startFakeOrderlyServer();
    try {
      const report = await runLoad({
        address: `127.0.0.1:${server.port}`,
        mode: "open",
        rate: 100,
        durationMs: 1500,
        timeoutMs: 20_000,
        maxInFlight: 1000,
        connections: 1,
        mix: CREATE_ONLY,
        rywRate: 0,
        seed: 1,
        customers: 10,
        lateThresholdMs: 5,
        slo: [],
        metricsUrls: [`http://127.0.0.1:${(http.address() as AddressInfo).port}/metrics`],
      });
      const lag = report.series.server_lag_s ?? {};
      expect(Object.keys(lag)).toEqual(["customer_orders", "order_summaries", "outbox relay"]);
      expect(lag.customer_orders).toHaveLength(report.series.end_s.length);
      expect(lag.customer_orders).toContain(1.5);
    } finally {
      await server.close();
      await new Promise((resolve) => http.close(resolve));
    }
  });
});
