import type { Server, ServerUnaryCall, ServerWritableStream, sendUnaryData } from "@grpc/grpc-js";
import { status as Status } from "@grpc/grpc-js";
import { service as healthService, protoPath } from "grpc-health-check";

export { healthService, protoPath as healthProtoPath };

export type ServingStatus = "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";
type Request = { service: string };
type Response = { status: ServingStatus };

/**
 * grpc.health.v1 (Check, Watch, List) over grpc-health-check's service definition, with our own state so that a
 * shutdown can tell every watcher NOT_SERVING and end its stream (otherwise Watch streams hold a graceful stop open).
 * "" is the whole server; every added service has its own entry.
 */
export class HealthState {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<ServerWritableStream<Request, Response>>>();

  set(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const call of this.watchers.get(service) ?? []) call.write({ status });
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  services(): string[] {
    return [...this.statuses.keys()];
  }

  /** Ends every Watch stream (after the NOT_SERVING that `set` already sent). */
  endWatches(): void {
    for (const calls of this.watchers.values()) for (const call of calls) call.end();
    this.watchers.clear();
  }

  addTo(server: Server): void {
    server.addService(healthService, {
      check: (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => {
        const status = this.statuses.get(call.request.service);
        if (status === undefined) {
          callback({ code: Status.NOT_FOUND, details: `unknown service ${JSON.stringify(call.request.service)}` });
        } else {
          callback(null, { status });
        }
      },
      watch: (call: ServerWritableStream<Request, Response>) => {
        const name = call.request.service;
        let calls = this.watchers.get(name);
        if (!calls) {
          calls = new Set();
          this.watchers.set(name, calls);
        }
        calls.add(call);
        const forget = () => this.watchers.get(name)?.delete(call);
        call.on("cancelled", forget);
        call.on("finish", forget);
        call.write({ status: this.statuses.get(name) ?? "SERVICE_UNKNOWN" });
      },
      list: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const statuses: Record<string, Response> = {};
        for (const [name, status] of this.statuses) statuses[name] = { status };
        callback(null, { statuses });
      },
    });
  }
}
