import { configDefaults, defineConfig } from "vitest/config";

/**
 * Secure mode's second run (`pnpm test:e2e:secure`, ORDERLY_E2E_SECURE=1) leaves out the suites whose run does not
 * depend on the gRPC edge's security, to keep CI within its 30 minutes: `pnpm test` has just run them.
 * - They make no gRPC call (only the services' environment would differ): projectors, the relay, recovery.
 * - They run the same either way: the two security suites (their own PKI), the proto contract, the HTML load report
 *   (a fake server) and the bench charts.
 * ORDERLY_E2E_SECURE_SUITES=all runs them too (test/README.md).
 */
const sameInSecureMode = [
  "src/projectors/projectors.e2e.test.ts",
  "src/outbox-relay/relay.e2e.test.ts",
  "src/recovery/recovery.e2e.test.ts",
  "src/security/secure-stack.e2e.test.ts",
  "src/security/secure-links.e2e.test.ts",
  "src/contract/proto-contract.e2e.test.ts",
  "src/loadtest/html-report.e2e.test.ts",
  "src/bench/bench-charts.test.ts",
];
const leaveOut = process.env.ORDERLY_E2E_SECURE === "1" && process.env.ORDERLY_E2E_SECURE_SUITES !== "all";

// End-to-end suites start real processes and share two cores: one file at a time.
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    exclude: [...configDefaults.exclude, ...(leaveOut ? sameInSecureMode : [])],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    // ORDERLY_E2E_SECURE=1: certificates, a token and the ORDERLY_TLS_*/ORDERLY_JWT_* settings (src/secure-mode.ts).
    setupFiles: ["src/secure-setup.ts"],
  },
});
