import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresProbe } from "./health-watch.js";

const url = (port: number) => `postgres://root@127.0.0.1:${port}/postgres`;
const sharedPostgres = process.env.ORDERLY_TEST_ADMIN_DATABASE_URL ?? url(5432);

describe("PostgresProbe", () => {
  let closedPort = 0;
  let silent: Server;
  let silentPort = 0;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    closedPort = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    silentPort = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });

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
    const refused = new PostgresProbe(url(closedPort));
    expect(await refused.check()).toBe(false);
    const hung = new PostgresProbe(url(silentPort), { timeoutMs: 300 });
    const started = Date.now();
    expect(await hung.check()).toBe(false);
    expect(Date.now() - started).toBeLessThan(2_000);
    await refused.close();
    await hung.close();
  });
});
