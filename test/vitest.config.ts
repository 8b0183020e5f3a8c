import { defineConfig } from "vitest/config";

// End-to-end suites start real processes and share two cores: one file at a time.
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
