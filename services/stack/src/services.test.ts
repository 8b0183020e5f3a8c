import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { discoverServices, metricsPortVariable } from "./services.js";

function servicesDir(names: string[], unbuilt: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), "orderly-services-"));
  for (const name of names) {
    mkdirSync(join(dir, name, "dist"), { recursive: true });
    writeFileSync(join(dir, name, "dist", "main.js"), "");
  }
  for (const name of unbuilt) mkdirSync(join(dir, name, "src"), { recursive: true });
  return dir;
}

describe("discoverServices", () => {
  const config = { commandPort: 50051, queryPort: 50052 };

  it("finds every built service but the stack, in start order, with ports", () => {
    const dir = servicesDir(
      [
        "stack",
        "orderly-cli",
        "demo",
        "projector-redis",
        "zeta-worker",
        "command-service",
        "outbox-relay",
        "query-service",
      ],
      ["projector-postgres"],
    );
    const services = discoverServices(dir, config, {});
    expect(services.map((s) => [s.name, s.metricsPort, s.grpcPort])).toEqual([
      ["command-service", 9401, 50051],
      ["query-service", 9402, 50052],
      ["outbox-relay", 9403, undefined],
      ["projector-redis", 9405, undefined],
      ["zeta-worker", undefined, undefined],
    ]);
    expect(services[0]?.entry).toBe(join(dir, "command-service", "dist", "main.js"));
  });

  it("moves metrics ports with <NAME>_METRICS_PORT and rejects bad ones by name", () => {
    const dir = servicesDir(["command-service", "zeta-worker"]);
    const services = discoverServices(dir, config, {
      COMMAND_SERVICE_METRICS_PORT: "19401",
      ZETA_WORKER_METRICS_PORT: "19499",
    });
    expect(services.map((s) => s.metricsPort)).toEqual([19401, 19499]);
    expect(() => discoverServices(dir, config, { COMMAND_SERVICE_METRICS_PORT: "x" })).toThrow(
      'COMMAND_SERVICE_METRICS_PORT="x" is not a TCP port',
    );
    expect(metricsPortVariable("projector-postgres")).toBe("PROJECTOR_POSTGRES_METRICS_PORT");
  });
});
