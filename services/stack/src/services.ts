import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { readPort, type StackConfig } from "@orderly/observability";

/** A service the stack runs: `services/<name>/dist/main.js`. */
export interface ServiceSpec {
  readonly name: string;
  readonly entry: string;
  /** Where its /metrics, /healthz and /readyz are (passed to it as METRICS_PORT); undefined: its own default. */
  readonly metricsPort: number | undefined;
  /** Its gRPC port, for the services that serve gRPC. */
  readonly grpcPort: number | undefined;
}

/** Folders under services/ that are not long-running services: the stack itself, the operator CLI, the tour. */
const notServices = new Set(["stack", "orderly-cli", "demo"]);

/** Start order and default metrics ports of the services we know; others start after them, alphabetically. */
export const knownServices: readonly { name: string; metricsPort: number }[] = [
  { name: "command-service", metricsPort: 9401 },
  { name: "query-service", metricsPort: 9402 },
  { name: "outbox-relay", metricsPort: 9403 },
  { name: "projector-postgres", metricsPort: 9404 },
  { name: "projector-redis", metricsPort: 9405 },
];

/** `projector-redis` → `PROJECTOR_REDIS_METRICS_PORT`: how to move one service's metrics port. */
export function metricsPortVariable(name: string): string {
  return `${name.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_METRICS_PORT`;
}

/** Every built service under `servicesDir` except the stack itself, the CLI and the tour, in start order. */
export function discoverServices(
  servicesDir: string,
  config: Pick<StackConfig, "commandPort" | "queryPort">,
  env: Record<string, string | undefined>,
): ServiceSpec[] {
  const names = readdirSync(servicesDir, { withFileTypes: true })
    .filter(
      (d) => d.isDirectory() && !notServices.has(d.name) && existsSync(join(servicesDir, d.name, "dist", "main.js")),
    )
    .map((d) => d.name);
  const rank = (name: string) => {
    const index = knownServices.findIndex((s) => s.name === name);
    return index === -1 ? knownServices.length : index;
  };
  names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return names.map((name) => {
    const fallback = knownServices.find((s) => s.name === name)?.metricsPort;
    const variable = metricsPortVariable(name);
    const metricsPort =
      fallback === undefined && env[variable] === undefined ? undefined : readPort(env, variable, fallback ?? 0);
    return {
      name,
      entry: join(servicesDir, name, "dist", "main.js"),
      metricsPort,
      grpcPort:
        name === "command-service" ? config.commandPort : name === "query-service" ? config.queryPort : undefined,
    };
  });
}
