import { readFileSync } from "node:fs";
import type { JetStreamManager, StreamConfig, StreamInfo } from "@nats-io/jetstream";
import { JetStreamApiError } from "@nats-io/jetstream";
import { assertNamespace, ordersSubjects, streamName } from "./names.js";

/** The single source of the stream configuration (JetStream API JSON with `{{STREAM}}`/`{{NAMESPACE}}` placeholders). */
export const ordersStreamConfigUrl = new URL("../../../infra/nats/orders-stream.json", import.meta.url);

type OrdersStreamConfig = Partial<StreamConfig> & { name: string; subjects: string[] };

/** What a deployment decides about the stream, beyond the configuration file. */
export interface OrdersStreamOptions {
  /**
   * ORDERLY_STREAM_REPLICAS: copies of the stream on a NATS cluster (1-5; 3 rides through the loss of a node).
   * Undefined: the file's `num_replicas` for a new stream, and an existing stream's count is left as it is (a tool or
   * test that did not read the deployment's configuration must not undo it).
   */
  readonly replicas?: number;
}

/** The orders stream configuration for `namespace`, read from `infra/nats/orders-stream.json`. */
export function ordersStreamConfig(namespace: string, options: OrdersStreamOptions = {}): OrdersStreamConfig {
  assertNamespace(namespace);
  const template = readFileSync(ordersStreamConfigUrl, "utf8");
  const text = template.replaceAll("{{STREAM}}", streamName(namespace)).replaceAll("{{NAMESPACE}}", namespace);
  const config = JSON.parse(text) as OrdersStreamConfig;
  if (options.replicas !== undefined) {
    if (!Number.isInteger(options.replicas) || options.replicas < 1 || options.replicas > 5)
      throw new RangeError(`stream replicas must be 1-5, got ${options.replicas}`);
    config.num_replicas = options.replicas;
  }
  if (config.name !== streamName(namespace) || config.subjects[0] !== ordersSubjects(namespace)) {
    throw new Error(
      `${ordersStreamConfigUrl.pathname}: name/subjects must use the {{STREAM}}/{{NAMESPACE}} placeholders`,
    );
  }
  return config;
}

const streamNotFound = 10059;

/** Settings that cannot be changed on an existing stream: a mismatch needs a human (and a migration). */
const immutable = ["storage", "retention"] as const;

/**
 * Creates the orders stream, or updates it to match the configuration file and `options` (a changed replica count
 * included: JetStream adds or removes the copies in place, the stream stays available). Idempotent; safe to call from
 * every process at start-up. Returns the stream's info.
 */
export async function ensureOrdersStream(
  jsm: JetStreamManager,
  namespace: string,
  options: OrdersStreamOptions = {},
): Promise<StreamInfo> {
  const wanted = ordersStreamConfig(namespace, options);
  let current: StreamInfo;
  try {
    current = await jsm.streams.info(wanted.name);
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === streamNotFound)) throw error;
    try {
      return await jsm.streams.add(wanted);
    } catch (addError) {
      // Another process created it first: fall through to the comparison.
      current = await jsm.streams.info(wanted.name).catch(() => {
        throw addError;
      });
    }
  }
  for (const key of immutable) {
    if (wanted[key] !== undefined && current.config[key] !== wanted[key]) {
      throw new Error(
        `stream ${wanted.name}: ${key} is ${String(current.config[key])}, configuration wants ${String(wanted[key])}` +
          " (cannot be changed in place)",
      );
    }
  }
  const drift = Object.entries(wanted).filter(([key, value]) => {
    if (key === "name" || (immutable as readonly string[]).includes(key)) return false;
    if (key === "num_replicas" && options.replicas === undefined) return false;
    return JSON.stringify((current.config as unknown as Record<string, unknown>)[key]) !== JSON.stringify(value);
  });
  if (drift.length === 0) return current;
  const { name, storage: _storage, retention: _retention, ...updatable } = wanted;
  if (options.replicas === undefined) updatable.num_replicas = current.config.num_replicas;
  return jsm.streams.update(name, updatable);
}
