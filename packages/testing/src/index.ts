export { createTestEnvironment, type TestEnvironment } from "./test-environment.js";
