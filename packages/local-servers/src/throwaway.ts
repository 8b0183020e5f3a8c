// `@orderly/local-servers/throwaway`: servers a process owns for a while (tests, benchmarks), in a temp folder on a
// free loopback port, killed when the process exits. Kept apart from `.` because importing it installs that exit hook.
// Each can be stopped and started again on the same port and folder (for tests that restart, kill, wipe or restore a
// server: never the shared ones, which hold other tenants' data).
export { freePort } from "./free-port.js";
export type { StopMode, ThrowawayServer } from "./owned-process.js";
export { type NatsCluster, type NatsServer, startNatsCluster, startNatsServer } from "./throwaway-nats.js";
export {
  type PostgresServer,
  type PostgresServerOptions,
  type PostgresStopMode,
  postgresBin,
  startPostgresServer,
} from "./throwaway-postgres.js";
export { type RedisCluster, type RedisServer, startRedisCluster, startRedisServer } from "./throwaway-redis.js";
