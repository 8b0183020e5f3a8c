import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface GrpcMetrics {
  readonly started: Counter<"grpc_service" | "grpc_method" | "grpc_type">;
  readonly handled: Counter<"grpc_service" | "grpc_method" | "grpc_type" | "grpc_code">;
  readonly handling: Histogram<"grpc_service" | "grpc_method" | "grpc_type" | "grpc_code">;
  readonly inFlight: Gauge<"grpc_service" | "grpc_method" | "grpc_type">;
  readonly messagesSent: Counter<"grpc_service" | "grpc_method" | "grpc_type">;
}

/** Latency buckets in seconds, from 0.25 ms (an in-memory call) to 10 s (a long wait). */
export const handlingBuckets = [
  0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Metrics named as in go-grpc-prometheus, so existing dashboards and alerts apply. Shared per registry. */
export function grpcMetrics(registry: Registry): GrpcMetrics {
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  return {
    started: get(
      "grpc_server_started_total",
      () =>
        new Counter({
          name: "grpc_server_started_total",
          help: "RPCs started on the server.",
          labelNames: ["grpc_service", "grpc_method", "grpc_type"],
          registers: [registry],
        }),
    ),
    handled: get(
      "grpc_server_handled_total",
      () =>
        new Counter({
          name: "grpc_server_handled_total",
          help: "RPCs completed on the server, by status code.",
          labelNames: ["grpc_service", "grpc_method", "grpc_type", "grpc_code"],
          registers: [registry],
        }),
    ),
    handling: get(
      "grpc_server_handling_seconds",
      () =>
        new Histogram({
          name: "grpc_server_handling_seconds",
          help: "Time from the start of an RPC to its status being sent, in seconds.",
          labelNames: ["grpc_service", "grpc_method", "grpc_type", "grpc_code"],
          buckets: handlingBuckets,
          registers: [registry],
        }),
    ),
    inFlight: get(
      "grpc_server_in_flight_calls",
      () =>
        new Gauge({
          name: "grpc_server_in_flight_calls",
          help: "RPCs being handled right now.",
          labelNames: ["grpc_service", "grpc_method", "grpc_type"],
          registers: [registry],
        }),
    ),
    messagesSent: get(
      "grpc_server_msg_sent_total",
      () =>
        new Counter({
          name: "grpc_server_msg_sent_total",
          help: "Stream messages sent by the server.",
          labelNames: ["grpc_service", "grpc_method", "grpc_type"],
          registers: [registry],
        }),
    ),
  };
}
