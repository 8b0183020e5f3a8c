import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";
import { createTestEnvironment, type TestEnvironment } from "./test-environment.js";

let env: TestEnvironment;
let proxy: TcpProxy;

beforeAll(async () => {
  env = await createTestEnvironment();
  proxy = await startTcpProxy({ port: Number(new URL(env.databaseUrl).port || 5432) });
});
afterAll(async () => {
  await proxy?.close();
  await env?.cleanup();
});

async function connected(): Promise<Client> {
  const client = new Client({ connectionString: proxy.url(env.databaseUrl) });
  client.on("error", () => {});
  await client.connect();
  return client;
}

describe("startTcpProxy", () => {
  it("forwards, cuts live connections and refuses new ones when down, and forwards again when up", async () => {
    const client = await connected();
    expect((await client.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
    expect(proxy.connections).toBe(1);
    await proxy.down();
    await expect(client.query("select 1")).rejects.toThrow();
    await expect(connected()).rejects.toMatchObject({ code: "ECONNREFUSED" });
    await proxy.up();
    const again = await connected();
    expect((await again.query("select 2 as two")).rows).toEqual([{ two: 2 }]);
    await again.end();
  });

  it("freeze: the connection stays open and silent; up: it answers", async () => {
    const client = await connected();
    proxy.freeze();
    const pending = client.query("select 3 as three");
    const outcome = await Promise.race([pending.then(() => "answered"), sleep(300).then(() => "silent")]);
    expect(outcome).toBe("silent");
    await proxy.up();
    expect((await pending).rows).toEqual([{ three: 3 }]);
    await client.end();
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
