// The servers a test owns (temp folder, free port): their home is @orderly/local-servers.
export * from "@orderly/local-servers/throwaway";
export { HEADLESS_CHROMIUM_FLAGS } from "./chromium.js";
export { type DatabaseDump, dumpDatabase, replaceDatabase } from "./database-restore.js";
export {
  answers200,
  eventually,
  freePort,
  type NodeRun,
  type RunNodeOptions,
  type RunningService,
  runNode,
  type StartServiceOptions,
  startService,
} from "./process.js";
export { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";
export {
  createTestEnvironment,
  type RedisNamespaceDrop,
  type TestEnvironment,
  type TestEnvironmentOptions,
  type TestServers,
  withTestEnvironment,
} from "./test-environment.js";
