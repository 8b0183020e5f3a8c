import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";
import { loadFileDescriptorSetFromBuffer, loadSync } from "@grpc/proto-loader";
import { healthService } from "@orderly/grpc-server";
import { freePort, type RunningService, startService, type TestEnvironment } from "@orderly/testing";
import { grpcCredentials } from "../secure-mode.js";
import { stackEnvironment } from "../stack-environment.js";

export const stackEntry = fileURLToPath(new URL("../../../services/stack/dist/main.js", import.meta.url));
export const services = ["command-service", "query-service", "outbox-relay", "projector-postgres", "projector-redis"];

export interface StackPorts {
  readonly COMMAND_PORT: number;
  readonly QUERY_PORT: number;
  readonly COMMAND_SERVICE_METRICS_PORT: number;
  readonly QUERY_SERVICE_METRICS_PORT: number;
  readonly OUTBOX_RELAY_METRICS_PORT: number;
  readonly PROJECTOR_POSTGRES_METRICS_PORT: number;
  readonly PROJECTOR_REDIS_METRICS_PORT: number;
}

/** Runs `services/stack` (what `pnpm start` runs) on free ports in the test environment; resolves once it is up. */
export async function startStack(
  env: TestEnvironment,
  /** More environment, e.g. the ORDERLY_TLS_* and ORDERLY_JWT_* settings. */
  extraEnv: Record<string, string> = {},
): Promise<{ stack: RunningService; ports: StackPorts }> {
  const ports: StackPorts = {
    COMMAND_PORT: await freePort(),
    QUERY_PORT: await freePort(),
    COMMAND_SERVICE_METRICS_PORT: await freePort(),
    QUERY_SERVICE_METRICS_PORT: await freePort(),
    OUTBOX_RELAY_METRICS_PORT: await freePort(),
    PROJECTOR_POSTGRES_METRICS_PORT: await freePort(),
    PROJECTOR_REDIS_METRICS_PORT: await freePort(),
  };
  const stack = await startService({
    name: "stack",
    entry: stackEntry,
    env: {
      ...env.env,
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
      LOG_FORMAT: "json",
      ...extraEnv,
    },
    readyLine: /services ready \(Ctrl-C stops them all\)/,
    readyTimeoutMs: 150_000,
  });
  return { stack, ports };
}

/** A test environment of its own with `services/stack` running in it (`startStack`); the environment is cleaned up if the stack does not start. */
export async function startTestStack(
  extraEnv: Record<string, string> = {},
): Promise<{ env: TestEnvironment; stack: RunningService; ports: StackPorts }> {
  const env = await stackEnvironment();
  try {
    return { env, ...(await startStack(env, extraEnv)) };
  } catch (error) {
    await env.cleanup();
    throw error;
  }
}

/** `stopStack`, then the test environment's cleanup. */
export async function stopTestStack(
  env: TestEnvironment | undefined,
  stack: RunningService | undefined,
): Promise<void> {
  await stopStack(stack);
  await env?.cleanup();
}

/**
 * Takes a stack down for good: SIGTERM (the stack stops its services gracefully), SIGKILL after 30 s, and then SIGKILL
 * to any service process still alive. SIGKILL to the stack alone would orphan its services, still running against a
 * database the test is about to drop.
 */
export async function stopStack(stack: RunningService | undefined): Promise<void> {
  if (!stack) return;
  const children = stackLogs(stack.output())
    .filter((l) => typeof l.msg === "string" && l.msg.startsWith("started ") && typeof l.childPid === "number")
    .map((l) => l.childPid as number);
  await stack.stop("SIGTERM", 30_000);
  for (const pid of children) {
    if (!alive(pid)) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The stack's own JSON log lines (its children's lines are prefixed with `[name] `). */
export function stackLogs(output: string): Record<string, unknown>[] {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return {};
      }
    })
    .filter((entry) => entry.name === "stack");
}

type UnaryFn = (
  request: unknown,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: unknown) => void,
) => void;

function unary<T>(client: grpc.Client, method: string, request: unknown): Promise<T> {
  const fn = (client as unknown as Record<string, UnaryFn>)[method];
  if (!fn) throw new Error(`no method ${method}`);
  return new Promise((resolve, reject) => {
    fn.call(client, request, { deadline: Date.now() + 10_000 }, (error, response) =>
      error ? reject(error) : resolve(response as T),
    );
  });
}

/** grpc.health.v1 Check with a standard grpc-js client. */
export async function healthCheck(port: number, service: string): Promise<string> {
  const Health = grpc.makeClientConstructor(healthService, "Health");
  const client = new Health(`127.0.0.1:${port}`, grpcCredentials());
  try {
    return (await unary<{ status: string }>(client, "check", { service })).status;
  } finally {
    client.close();
  }
}

/** grpc.health.v1 Watch with a standard grpc-js client: every status the server sends, in order. */
export function healthWatch(port: number, service: string): { readonly statuses: string[]; close(): void } {
  const Health = grpc.makeClientConstructor(healthService, "Health");
  const client = new Health(`127.0.0.1:${port}`, grpcCredentials());
  const statuses: string[] = [];
  const call = (client as unknown as { watch: (r: unknown) => grpc.ClientReadableStream<{ status: string }> }).watch({
    service,
  });
  call.on("data", (message: { status: string }) => statuses.push(message.status));
  call.on("error", () => {});
  return {
    statuses,
    close() {
      call.cancel();
      client.close();
    },
  };
}

const reflectionProtoRoot = join(dirname(createRequire(import.meta.url).resolve("@grpc/reflection")), "../proto");

/** A grpc.reflection.v1 client (grpc-js + the reflection package's own .proto): one request, one answer. */
export async function reflect<T>(port: number, request: object): Promise<T> {
  const pkg = grpc.loadPackageDefinition(
    loadSync("grpc/reflection/v1/reflection.proto", { includeDirs: [reflectionProtoRoot] }),
  ) as unknown as { grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } } };
  const client = new pkg.grpc.reflection.v1.ServerReflection(`127.0.0.1:${port}`, grpcCredentials());
  try {
    return await new Promise<T>((resolve, reject) => {
      const call = (
        client as unknown as { serverReflectionInfo: () => grpc.ClientDuplexStream<object, T> }
      ).serverReflectionInfo();
      call.on("data", (response: T) => {
        resolve(response);
        call.end();
      });
      call.on("error", reject);
      call.write(request);
    });
  } finally {
    client.close();
  }
}

/**
 * Calls `method` of `service` with a client built only from what reflection returned (no .proto files):
 * file_containing_symbol → FileDescriptorProtos → a proto-loader package definition → a grpc-js client.
 */
export async function callThroughReflection<T>(
  port: number,
  service: string,
  method: string,
  request: object,
): Promise<T> {
  const files = await reflect<{ fileDescriptorResponse: { fileDescriptorProto: Buffer[] } }>(port, {
    fileContainingSymbol: service,
  });
  // A FileDescriptorSet is `repeated FileDescriptorProto file = 1`.
  const set = new BinaryWriter();
  for (const file of files.fileDescriptorResponse.fileDescriptorProto) set.tag(1, WireType.LengthDelimited).bytes(file);
  const pkg = grpc.loadPackageDefinition(loadFileDescriptorSetFromBuffer(Buffer.from(set.finish())));
  let ctor: unknown = pkg;
  for (const part of service.split(".")) ctor = (ctor as Record<string, unknown>)[part];
  const client = new (ctor as grpc.ServiceClientConstructor)(`127.0.0.1:${port}`, grpcCredentials());
  try {
    return await unary<T>(client, method, request);
  } finally {
    client.close();
  }
}

/** Sum of every series of `name` in a Prometheus text exposition whose labels include all of `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[2] ?? "";
    if (!Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) continue;
    sum = (sum ?? 0) + Number(match[3]);
  }
  return sum;
}

export async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return response.text();
}
