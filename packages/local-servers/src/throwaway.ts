// `@orderly/local-servers/throwaway`: servers a process owns for a while (tests, benchmarks), in a temp folder on a
// free loopback port, killed when the process exits. Kept apart from `.` because importing it installs that exit hook.
export { freePort } from "./free-port.js";
export {
  type NatsCluster,
  type NatsServer,
  type PostgresServer,
  type PostgresServerOptions,
  type PostgresStopMode,
  postgresBin,
  type RedisCluster,
  type RedisServer,
  type StopMode,
  startNatsCluster,
  startNatsServer,
  startPostgresServer,
  startRedisCluster,
  startRedisServer,
  type ThrowawayServer,
} from "./throwaway-servers.js";
