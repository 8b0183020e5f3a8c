import { Counter, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { type OpsServer, startOpsServer } from "./ops-server.js";

describe("startOpsServer", () => {
  let server: OpsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("serves /metrics with the registry's and the default process metrics", async () => {
    const registry = new Registry();
    new Counter({ name: "things_total", help: "things", registers: [registry] }).inc(3);
    server = await startOpsServer({ port: 0, host: "127.0.0.1", registry, ready: () => true });
    const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();
    expect(text).toContain("things_total 3");
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
  });

  it("answers /healthz always and /readyz from ready()", async () => {
    let ready: boolean | Error = false;
    server = await startOpsServer({
      port: 0,
      host: "127.0.0.1",
      registry: new Registry(),
      ready: async () => {
        if (ready instanceof Error) throw ready;
        return ready;
      },
    });
    const get = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${server?.port}${path}`);
      await response.text();
      return response.status;
    };
    expect(await get("/healthz")).toBe(200);
    expect(await get("/readyz")).toBe(503);
    ready = true;
    expect(await get("/readyz")).toBe(200);
    ready = new Error("boom");
    expect(await get("/readyz")).toBe(503);
    expect(await get("/healthz")).toBe(200);
    expect(await get("/nope")).toBe(404);
  });

  it("can start twice on one registry (default metrics registered once)", async () => {
    const registry = new Registry();
    const a = await startOpsServer({ port: 0, host: "127.0.0.1", registry, ready: () => true });
    const b = await startOpsServer({ port: 0, host: "127.0.0.1", registry, ready: () => true });
    expect(a.port).not.toBe(b.port);
    await Promise.all([a.close(), b.close()]);
  });
});
