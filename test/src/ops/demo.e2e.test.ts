import { type RunningService, startService, type TestEnvironment } from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { secureClientEnv, secureMode } from "../secure-mode.js";
import { type StackPorts, startTestStack, stopTestStack } from "./support.js";

// `pnpm demo` is the guided tour and CI's smoke test: run against a running stack, it must walk every step and say so.
// In secure mode (ORDERLY_E2E_SECURE=1) the stack serves TLS + mTLS + JWT and the demo gets ORDERLY_CA_FILE,
// ORDERLY_CLIENT_CERT/KEY and ORDERLY_TOKEN_FILE.
const demoEntry = new URL("../../../services/demo/dist/main.js", import.meta.url).pathname;

describe("pnpm demo (services/demo) against a running stack", () => {
  let env: TestEnvironment;
  let stack: RunningService | undefined;
  let ports: StackPorts;
  beforeAll(async () => {
    ({ env, stack, ports } = await startTestStack());
  });
  afterAll(() => stopTestStack(env, stack));

  it("places, pays, ships and cancels, reads each back with min_position, streams WaitForPosition, and prints the figures", async () => {
    const portEnv = Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)]));
    const demo = await startService({
      name: "demo",
      entry: demoEntry,
      env: { ...env.env, ...portEnv, ...secureClientEnv() },
    });
    const code = await demo.exited;
    const out = demo.output();
    expect(code, out).toBe(0);
    const steps = [
      ["1. CreateOrder", "PLACED"],
      ["2. UpdatePaymentStatus", "PAID"],
      ["3. ShipOrder", "SHIPPED"],
      ["4. CreateOrder", "PLACED"],
      ["5. CancelOrder", "CANCELLED"],
    ] as const;
    for (const [title, status] of steps) {
      const section = out.slice(out.indexOf(title));
      expect(section, title).toMatch(/accepted: order [0-9a-f-]{36}, stream version \d+, position \d+ \(\d+\.\d ms\)/);
      expect(section).toMatch(new RegExp(`GetOrderSummary\\(min_position=\\d+\\): ${status}`));
      expect(section).toMatch(/visible in Postgres after \d+\.\d ms \(order_summaries at \d+, lag \d+\.\d{3} s\)/);
      expect(section).toMatch(
        new RegExp(`ListCustomerOrders\\(min_position=\\d+\\): \\d order\\(s\\) of demo-\\w+, this one ${status}`),
      );
      expect(section).toMatch(/visible in Redis after \d+\.\d ms \(customer_orders at \d+, lag \d+\.\d{3} s\)/);
    }
    expect(out).toContain("GetOrderSummary(min_position=1): PLACED, total 28.00 EUR, paid 0.00 EUR, version 1");
    expect(out).toMatch(/6\. WaitForPosition\(min_position=\d+\), opened before the cancel was sent: streamed/);
    expect(out).toMatch(
      /order_summaries \d+ \(lag \d+\.\d{3} s\) · customer_orders \d+ \(lag \d+\.\d{3} s\) {2}reached/,
    );
    expect(out).toMatch(/step +position +command +visible: Postgres +Redis/);
    expect(out).toContain(`pnpm loadtest -a 127.0.0.1:${ports.COMMAND_PORT} -d 10s`);
    expect(out).toContain(`http://127.0.0.1:${ports.PROJECTOR_REDIS_METRICS_PORT}/metrics`);
    expect(out).toContain("Tour done: every step was visible in both read models.");
    expect(out).toContain(
      secureMode ? "(mTLS, bearer token from file)" : `http://127.0.0.1:${ports.QUERY_PORT} (plaintext)`,
    );
  });

  it("says the stack is not running when nothing answers (exit 2)", async () => {
    const demo = await startService({
      name: "demo-nothing",
      entry: demoEntry,
      env: { ...env.env, COMMAND_PORT: "1", QUERY_PORT: "2", ...secureClientEnv() },
    });
    expect(await demo.exited).toBe(2);
    expect(demo.output()).toContain("Is `pnpm start` running (in another terminal)?");
  });
});
