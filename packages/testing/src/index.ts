export { eventually, freePort, type RunningService, type StartServiceOptions, startService } from "./process.js";
export { createTestEnvironment, type TestEnvironment } from "./test-environment.js";
