export {
  ConfigError,
  natsServers,
  problemCollector,
  readInteger,
  readPort,
  readStackConfig,
  type StackConfig,
  stackDefaults,
  withDefaultUser,
} from "./config.js";
export { ConfigReader } from "./config-reader.js";
export {
  checkDependencies,
  connectionProblem,
  type DependencyName,
  type DependencyReport,
  type DependencyStatus,
  type DownKind,
  describeDown,
  howToStart,
  maskPassword,
  oldestPostgresMajor,
  urlVariable,
} from "./dependencies.js";
export {
  type HealthWatch,
  type HealthWatchOptions,
  PostgresProbe,
  type PostgresProbeOptions,
  watchHealth,
} from "./health-watch.js";
export { type NatsLinkOptions, type RedisLinkOptions, readNatsLink, readRedisLink } from "./links.js";
export { type CreateLoggerOptions, createLogger, type Logger, readLogConfig } from "./logger.js";
export { type OpsServer, type OpsServerOptions, startOpsServer } from "./ops-server.js";
export {
  clusterOptions,
  clusterSeeds,
  createRedisClient,
  isRedisCluster,
  type RedisClientOptions,
  redisMasters,
  withRedisCause,
} from "./redis-client.js";
export { runMain, runService, type ServiceStart } from "./run-main.js";
export { type ShutdownOptions, shutdownOnSignals } from "./shutdown.js";
export {
  defaultStartupTimeoutMs,
  natsServer,
  postgresDatabase,
  postgresServer,
  readStartupTimeoutMs,
  redisServer,
  type StartupDependency,
  StartupTimeoutError,
  type WaitForDependenciesOptions,
  waitForDependencies,
} from "./startup.js";
export {
  contextOf,
  MAX_LINKS,
  type OtlpProtocol,
  type RecordedSpan,
  readTracingConfig,
  recordSharedSpan,
  recordSpan,
  recordSpanPerTrace,
  SpanKind,
  spanContextOf,
  startTracing,
  type Tracer,
  type Tracing,
  type TracingConfig,
  traceparentOf,
} from "./tracing.js";
