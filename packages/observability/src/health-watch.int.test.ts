import { describe, expect, it } from "vitest";
import { PostgresProbe } from "./health-watch.js";
import { testPortsForSuite } from "./test-ports.js";

const url = (port: number) => `postgres://root@127.0.0.1:${port}/postgres`;
const sharedPostgres = process.env.ORDERLY_TEST_ADMIN_DATABASE_URL ?? url(5432);

describe("PostgresProbe", () => {
  const ports = testPortsForSuite();

  it("is true against a running Postgres, again and again over one connection", async () => {
    const probe = new PostgresProbe(sharedPostgres, { applicationName: "orderly probe test" });
    try {
      expect(await probe.check()).toBe(true);
      expect(await probe.check()).toBe(true);
    } finally {
      await probe.close();
    }
    expect(await probe.check()).toBe(false);
  });

  it("is false when nothing listens, and false within its timeout when the server never answers", async () => {
    const refused = new PostgresProbe(url(ports.closedPort));
    expect(await refused.check()).toBe(false);
    const hung = new PostgresProbe(url(ports.silentPort), { timeoutMs: 300 });
    const started = Date.now();
    expect(await hung.check()).toBe(false);
    expect(Date.now() - started).toBeLessThan(2_000);
    await refused.close();
    await hung.close();
  });
});
