import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { decodeEnvelope, ensureOrdersStream, streamName } from "@orderly/event-bus";
import {
  createPool,
  ensureDatabase,
  migrateEventStore,
  PostgresEventLog,
  StoreContinuity,
} from "@orderly/event-store-postgres";
import type { PartitionSpec } from "@orderly/eventsourcing";
import {
  ConfigError,
  createLogger,
  type Logger,
  natsServer,
  postgresServer,
  readLogConfig,
  readPort,
  readStackConfig,
  readStartupTimeoutMs,
  recordSpanPerTrace,
  redisServer,
  runMain,
  SpanKind,
  type StackConfig,
  shutdownOnSignals,
  startOpsServer,
  startTracing,
  waitForDependencies,
} from "@orderly/observability";
import { migrateReadModels } from "@orderly/order-read-models";
import {
  type Projection,
  Projector,
  type ProjectorOptions,
  type RebuildResult,
  type UnknownEventPolicy,
  unknownEventPolicy,
} from "@orderly/projector";
import type pg from "pg";
import { Gauge, Registry } from "prom-client";
import { type ProjectorConfig, readProjectorConfig } from "./config.js";
import { PartitionLeases } from "./partition-leases.js";
import { PartitionRunners } from "./partition-runners.js";

/** What a projector process has built for its projection before it asks for one. */
export interface ProjectorProcessContext {
  readonly stack: StackConfig;
  readonly config: ProjectorConfig;
  readonly pool: pg.Pool;
  readonly eventLog: PostgresEventLog;
  readonly logger: Logger;
  /** The process's metrics registry (served on METRICS_PORT). */
  readonly registry: Registry;
  /** The event store's identity, as last read: recorded with every checkpoint of the read model. */
  readonly storeId: () => string | undefined;
  /** PROJECTOR_UNKNOWN_EVENT_TYPES as the projection's handlers apply it (metric and log line when skipping). */
  readonly unknownTypes: UnknownEventPolicy;
}

/** One read model as a process runs it. */
export interface ProjectionModule {
  /** The projection of one partition (`{ index: 0, count: 1 }`: the whole read model). */
  projection(partition: PartitionSpec): Projection;
  /**
   * Lays the read model out for `count` partitions, or refuses (PartitionLayoutError) when it holds data laid out for
   * another count: changing the count takes a rebuild.
   */
  ensureLayout(count: number): Promise<void>;
  /** A full rebuild (a shadow copy swapped in): the `rebuild` command, and a version change at start. */
  rebuild(): Promise<RebuildResult>;
  /** The read model's version as stored, read before the projector starts; undefined when none is stored yet. */
  storedVersion(): Promise<string | number | undefined>;
  /** The version of the read model this code writes. */
  readonly codeVersion: string | number;
  /** Records `codeVersion` as stored, where the rebuild does not (after a rebuild, and when none was stored). */
  markVersion?(): Promise<void>;
  /** Closes the module's own connections (after the projector has stopped, before the pool ends). */
  close?(): Promise<void> | void;
}

export interface ProjectorProcessSpec {
  /** The process's name: logger, NATS connection name, log lines (`projector-postgres`). */
  readonly name: string;
  /** The projection's name: the durable JetStream consumer is `<namespace>_<projection>`. */
  readonly projection: string;
  /** METRICS_PORT when unset. */
  readonly defaultMetricsPort: number;
  /** Postgres connections of the process. */
  readonly poolMax: number;
  /** The read model lives in Redis: wait for it at start too (besides Postgres and NATS). */
  readonly usesRedis?: boolean;
  /** Builds the projection over the process's connections. */
  setup(context: ProjectorProcessContext): Promise<ProjectionModule> | ProjectionModule;
}

/** What the process was started with: its main passes `process.argv.slice(2)` and `process.env`. */
export interface ProjectorProcessInput {
  readonly args: readonly string[];
  readonly env: Record<string, string | undefined>;
}

/**
 * The whole of a projector process: `node main.js [run|rebuild]`. Exits 1 (after logging why) when it cannot start.
 */
export function runProjectorProcess(spec: ProjectorProcessSpec, input: ProjectorProcessInput): void {
  const logger = createLogger(spec.name, readLogConfig(input.env));
  runMain(spec.name, logger, () => main(spec, input, logger));
}

async function main(spec: ProjectorProcessSpec, { args, env }: ProjectorProcessInput, logger: Logger): Promise<void> {
  const command = args[0] ?? "run";
  if (command !== "run" && command !== "rebuild") {
    throw new ConfigError([`unknown command ${JSON.stringify(command)} (use "run" or "rebuild")`]);
  }
  const stack = readStackConfig(env);
  // OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set: an "apply" span per command's trace in each committed batch.
  const tracing = startTracing(spec.name, env);
  const tracer = tracing.tracer;
  const config = readProjectorConfig(env);
  const metricsPort = readPort(env, "METRICS_PORT", spec.defaultMetricsPort);
  const startupTimeoutMs = readStartupTimeoutMs(env);
  const registry = new Registry();

  // Started side by side with everything else: /readyz says not ready while it waits for its dependencies.
  let applying: { runners: PartitionRunners; leases: PartitionLeases | undefined } | undefined;
  const ready = (): boolean => (applying?.runners.ready() ?? false) && (applying?.leases?.connected ?? true);
  const ops = command === "run" ? await startOpsServer({ port: metricsPort, registry, ready }) : undefined;
  await waitForDependencies(
    [
      postgresServer(stack.databaseUrl),
      ...(command === "run" ? [natsServer(stack.natsUrl, stack.nats)] : []),
      ...(spec.usesRedis ? [redisServer(stack.redisUrl, stack.redis)] : []),
    ],
    { timeoutMs: startupTimeoutMs, logger },
  );
  await ensureDatabase(stack.databaseUrl);
  // Each partition this process may apply commits on its own: two more connections per partition past the first.
  const pool = createPool(stack.databaseUrl, { max: spec.poolMax + 2 * (config.partitions - 1) });
  await migrateEventStore(pool);
  await migrateReadModels(pool);
  const eventLog = new PostgresEventLog(pool);
  const continuity = new StoreContinuity(pool);
  await continuity.storeId();
  const module = await spec.setup({
    stack,
    config,
    pool,
    eventLog,
    logger,
    registry,
    storeId: () => continuity.knownStoreId,
    unknownTypes: unknownEventPolicy(config.unknownEventTypes, { projection: spec.projection, registry, logger }),
  });

  if (command === "rebuild") {
    const result = await module.rebuild();
    await module.markVersion?.();
    process.stdout.write(`${JSON.stringify(result)}\n`);
    await module.close?.();
    await pool.end();
    return;
  }

  const before = await module.storedVersion();
  const partitions = config.partitions;
  // Refused (the process exits with the line naming the fix) when the read model is laid out for another count.
  await module.ensureLayout(partitions);
  const nc = await connect({ ...stack.nats, name: spec.name, maxReconnectAttempts: -1 });
  const jsm = await jetstreamManager(nc);
  await ensureOrdersStream(jsm, stack.namespace, { replicas: stack.streamReplicas });
  const base = projectorOptions(spec, config, { logger, registry, eventLog, continuity, tracer });
  const runners = new PartitionRunners(
    (index) =>
      new Projector({
        ...base,
        projection: module.projection({ index, count: partitions }),
        source: {
          js: jetstream(nc),
          jsm,
          stream: streamName(stack.namespace),
          // One durable consumer per partition (each reads the whole stream); unpartitioned, the one it always had.
          consumer: `${stack.namespace}_${spec.projection}${partitions === 1 ? "" : `_p${index}of${partitions}`}`,
          decode: (data, headers) => decodeEnvelope(data, headers),
          ackWaitMs: config.ackWaitMs,
        },
      }),
    logger,
  );
  const owned = partitionGauges(registry, spec.projection, partitions);
  let leases: PartitionLeases | undefined;
  if (config.partitionList !== undefined || partitions === 1) {
    // Static: the listed partitions (or the one partition, applied by every instance as before).
    for (const index of config.partitionList ?? [0]) await runners.acquired(index);
    owned.set({ projection: spec.projection }, runners.held.length);
  } else {
    leases = new PartitionLeases({
      connectionString: stack.databaseUrl,
      scope: `${stack.namespace}/${spec.projection}/${partitions}`,
      partitions,
      intervalMs: config.leaseIntervalMs,
      holder: runners,
      logger,
      onChange: (held) => owned.set({ projection: spec.projection }, held.length),
    });
    await leases.start();
  }
  applying = { runners, leases };
  logger.info({ partitions, held: runners.held, leased: leases !== undefined }, "partitions assigned");

  let rebuilding: Promise<unknown> | undefined;
  if (before !== undefined && before !== module.codeVersion) {
    logger.warn({ stored: before, code: module.codeVersion }, "projection version changed: rebuilding");
    rebuilding = module
      .rebuild()
      .then(async (result) => {
        await module.markVersion?.();
        logger.info({ result }, "rebuild done");
      })
      .catch((error: unknown) => logger.error({ err: error }, "rebuild failed (restart to retry)"));
  } else if (before === undefined) {
    await module.markVersion?.();
  }
  logger.info({ metricsPort: ops?.port, namespace: stack.namespace }, `${spec.name} ready`);

  shutdownOnSignals(
    async () => {
      // Leases first: released only after their partitions stopped, so another instance takes them at once.
      await applying?.leases?.close();
      await applying?.runners.stopAll();
      await rebuilding;
      await ops?.close();
      await nc.close();
      await module.close?.();
      await pool.end();
      await tracing.shutdown();
    },
    { logger },
  );
}

/** What every partition's projector shares (everything but its projection and consumer). */
function projectorOptions(
  spec: ProjectorProcessSpec,
  config: ProjectorConfig,
  parts: {
    logger: Logger;
    registry: Registry;
    eventLog: PostgresEventLog;
    continuity: StoreContinuity;
    tracer: ReturnType<typeof startTracing>["tracer"];
  },
): Omit<ProjectorOptions, "projection" | "source"> {
  const { tracer } = parts;
  return {
    eventLog: parts.eventLog,
    registry: parts.registry,
    logger: parts.logger,
    batchSize: config.batchSize,
    catchUpBatchSize: config.catchUpBatchSize,
    poisonRetryMs: config.poisonRetryMs,
    // The checkpoint's mark on start and idle ticks, every JetStream batch's last event: a store that went back stops
    // the projector (NOT_SERVING, orderly_store_diverged 1, one error line) until `pnpm orderly recover`.
    continuity: parts.continuity,
    ...(tracer
      ? {
          traceBatch: (events, startedAt) =>
            recordSpanPerTrace(
              tracer,
              {
                name: `${spec.projection} apply`,
                kind: SpanKind.CONSUMER,
                startTime: startedAt,
                attributes: {
                  "orderly.projection": spec.projection,
                  "orderly.batch.first_position": events[0]?.position ?? 0,
                  "orderly.batch.last_position": events.at(-1)?.position ?? 0,
                },
              },
              events.map((event) => event.metadata.traceparent),
            ),
        }
      : {}),
  };
}

/** `projector_partitions_owned` (set by the caller) and `projector_partitions` (the count), per projection. */
function partitionGauges(registry: Registry, projection: string, count: number): Gauge<"projection"> {
  const total = new Gauge({
    name: "projector_partitions",
    help: "Partitions the read model is split into (PROJECTOR_PARTITIONS)",
    labelNames: ["projection"],
    registers: [registry],
  });
  total.set({ projection }, count);
  const owned = new Gauge({
    name: "projector_partitions_owned",
    help: "Partitions of the read model this instance applies (static, or leases held)",
    labelNames: ["projection"],
    registers: [registry],
  });
  owned.set({ projection }, 0);
  return owned;
}
