import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Metadata, Server, ServerDuplexStream, ServiceDefinition } from "@grpc/grpc-js";
import { loadSync, type PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { healthProtoPath } from "./health.js";

/**
 * Where the repository's `.proto` files are at run time: `explicit` (a service passes ORDERLY_PROTO_DIR), else a `proto/` shipped inside
 * @orderly/contracts, else the nearest `proto/` above this module (the monorepo root, also when a built service runs as
 * `node services/x/dist/main.js`).
 */
export function findProtoDir(explicit?: string): string {
  const candidates: string[] = [];
  if (explicit) candidates.push(resolve(explicit));
  try {
    const contracts = createRequire(import.meta.url).resolve("@orderly/contracts/package.json");
    candidates.push(join(dirname(contracts), "proto"));
  } catch {
    // contracts does not export package.json or is absent: fall through to the walk up.
  }
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    candidates.push(join(dir, "proto"));
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const found = candidates.find((c) => existsSync(join(c, "orderly")));
  if (!found) {
    throw new Error(
      `cannot find the .proto files for gRPC reflection (looked in ${candidates.slice(0, 4).join(", ")}, ...); set ORDERLY_PROTO_DIR`,
    );
  }
  return found;
}

function protoFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".proto")) files.push(relative(root, path));
    }
  };
  walk(root);
  return files.sort();
}

let cached: { dir: string; definition: PackageDefinition } | undefined;

/** A proto-loader package definition of every `.proto` in the repo plus grpc.health.v1. */
export function loadPackageDefinition(protoDir?: string): PackageDefinition {
  const dir = findProtoDir(protoDir);
  if (cached?.dir === dir) return cached.definition;
  const healthRoot = resolve(dirname(healthProtoPath), "../..");
  const definition = loadSync([...protoFiles(dir), relative(healthRoot, healthProtoPath)], {
    includeDirs: [dir, healthRoot],
  });
  cached = { dir, definition };
  return definition;
}

/** Admits a reflection stream (resolves) or refuses it (throws or rejects with the error to send). */
export type ReflectionGuard = (metadata: Metadata) => unknown;

/**
 * grpc.reflection.v1 and v1alpha, listing only the given services. With a guard, each reflection stream is admitted
 * only once the guard accepts its metadata (a valid token when auth is on); a refusal ends it with `refuse(error)`.
 */
export function addReflection(
  server: Server,
  services: readonly string[],
  protoDir?: string,
  guard?: { admit: ReflectionGuard; refuse: (error: unknown) => { code: number; details: string } },
): void {
  const definition = loadPackageDefinition(protoDir);
  const missing = services.filter((s) => !(s in definition));
  if (missing.length > 0) {
    throw new Error(`reflection: ${missing.join(", ")} not found in the .proto files under ${findProtoDir(protoDir)}`);
  }
  const reflection = new ReflectionService(definition, { services: [...services] });
  if (guard === undefined) {
    reflection.addToServer(server);
    return;
  }
  type Handler = (call: ServerDuplexStream<unknown, unknown>) => void;
  const guarded = {
    addService(service: ServiceDefinition, implementation: Record<string, Handler>) {
      const wrapped: Record<string, Handler> = {};
      for (const [name, handler] of Object.entries(implementation)) {
        wrapped[name] = (call) => {
          const refuse = (error: unknown) => call.emit("error", guard.refuse(error));
          let admitted: unknown;
          try {
            admitted = guard.admit(call.metadata);
          } catch (error) {
            refuse(error);
            return;
          }
          // Until the handler listens, the stream holds what the client sent (paused mode).
          Promise.resolve(admitted).then(() => handler(call), refuse);
        };
      }
      server.addService(service, wrapped);
    },
  };
  reflection.addToServer(guarded as unknown as Server);
}
