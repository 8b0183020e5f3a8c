import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { collectDefaultMetrics, type Registry } from "prom-client";

export interface OpsServerOptions {
  /** 0 picks a free port. */
  readonly port: number;
  /** Default 0.0.0.0 so Prometheus and Kubernetes probes can reach it. */
  readonly host?: string;
  readonly registry: Registry;
  /** Readiness: may the process take traffic? A throw counts as not ready. */
  readonly ready: () => boolean | Promise<boolean>;
  /** Collect prom-client's default process metrics into `registry` (default true; done once per registry). */
  readonly defaultMetrics?: boolean;
}

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

const withDefaults = new WeakSet<Registry>();

/** Serves `/metrics` (Prometheus text), `/healthz` (the process is alive) and `/readyz` (200 or 503 from `ready()`). */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const { registry } = options;
  if ((options.defaultMetrics ?? true) && !withDefaults.has(registry)) {
    withDefaults.add(registry);
    collectDefaultMetrics({ register: registry });
  }
  const server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    const reply = (status: number, contentType: string, body: string) => {
      response.writeHead(status, { "content-type": contentType, "cache-control": "no-store" });
      response.end(body);
    };
    if (request.method !== "GET" && request.method !== "HEAD") {
      reply(405, "text/plain", "method not allowed\n");
      return;
    }
    switch (path) {
      case "/metrics":
        registry.metrics().then(
          (text) => reply(200, registry.contentType, text),
          (error: unknown) => reply(500, "text/plain", `metrics failed: ${String(error)}\n`),
        );
        return;
      case "/healthz":
        reply(200, "application/json", '{"status":"ok"}\n');
        return;
      case "/readyz":
        isReady(options.ready).then(
          (ready) => reply(ready ? 200 : 503, "application/json", `{"status":"${ready ? "ready" : "not ready"}"}\n`),
          () => reply(503, "application/json", '{"status":"not ready"}\n'),
        );
        return;
      default:
        reply(404, "text/plain", "not found (try /metrics, /healthz, /readyz)\n");
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "0.0.0.0", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function isReady(ready: () => boolean | Promise<boolean>): Promise<boolean> {
  return (await ready()) === true;
}
