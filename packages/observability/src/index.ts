export { ConfigError, readPort, readStackConfig, type StackConfig, stackDefaults } from "./config.js";
export {
  checkDependencies,
  type DependencyName,
  type DependencyReport,
  type DependencyStatus,
  howToStart,
  maskPassword,
} from "./dependencies.js";
export {
  type HealthWatch,
  type HealthWatchOptions,
  PostgresProbe,
  type PostgresProbeOptions,
  watchHealth,
} from "./health-watch.js";
export { type CreateLoggerOptions, createLogger, type Logger } from "./logger.js";
export { type OpsServer, type OpsServerOptions, startOpsServer } from "./ops-server.js";
export { type ShutdownOptions, shutdownOnSignals } from "./shutdown.js";
