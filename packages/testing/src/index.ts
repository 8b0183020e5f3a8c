export { type DatabaseDump, dumpDatabase, replaceDatabase } from "./database-restore.js";
export { eventually, freePort, type RunningService, type StartServiceOptions, startService } from "./process.js";
export { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";
export { createTestEnvironment, type TestEnvironment } from "./test-environment.js";
