import { defineConfig } from "vitest/config";

// End-to-end suites start real processes and share two cores: one file at a time.
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    // ORDERLY_E2E_SECURE=1: certificates, a token and the ORDERLY_TLS_*/ORDERLY_JWT_* settings (src/secure-mode.ts).
    setupFiles: ["src/secure-setup.ts"],
  },
});
