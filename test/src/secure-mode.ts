import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { OrderlyClientTls, TokenProvider } from "@orderly/client";
import type { LoadSecurity } from "@orderly/loadtest";

// ORDERLY_E2E_SECURE=1 (`pnpm test:e2e:secure`) runs the end-to-end suites over mTLS with JWT bearer tokens (issue 15,
// "Done when"). The setup file (secure-setup.ts) makes one CA, a server certificate (localhost, 127.0.0.1), a client
// certificate and an ES256 key pair per test file and puts the six ORDERLY_TLS_* / ORDERLY_JWT_* settings into
// process.env, so every service a suite spawns (startService passes process.env on) serves over mTLS and checks
// tokens. The helpers below give the suites' clients what they need to talk to such a service; with the switch off
// they return plaintext and no token, exactly as before.

/** True when the suites run against services with TLS + mTLS + JWT on. */
export const secureMode = process.env.ORDERLY_E2E_SECURE === "1";

/**
 * CI's time budget (`.ci/run` within 30 minutes; `pnpm test` has just run every scenario in plaintext): in secure
 * mode the fault suites run their client-facing scenarios only (the services' restarts, reconnects and retries over
 * TLS with tokens), unless ORDERLY_E2E_SECURE_FAULTS=all runs every scenario. What a fault does to Postgres, NATS
 * or Redis behind the services does not depend on the gRPC edge's security.
 */
export const secureFaultSubset = secureMode && process.env.ORDERLY_E2E_SECURE_FAULTS !== "all";

/** For `it.skipIf`: true for a fault scenario left out of secure mode's subset (see `secureFaultSubset`). */
export function notInSecureSubset(inSubset: boolean): boolean {
  return secureFaultSubset && !inSubset;
}

/** Where the setup file wrote the CA, the client certificate and the token (only in secure mode). */
export const SECURE_DIR_VARIABLE = "ORDERLY_E2E_SECURE_DIR";
/** The token the setup file signed (scopes orders:write orders:read). */
export const SECURE_TOKEN_VARIABLE = "ORDERLY_E2E_SECURE_TOKEN";

function dir(): string {
  const value = process.env[SECURE_DIR_VARIABLE];
  if (!value)
    throw new Error(`ORDERLY_E2E_SECURE=1 but ${SECURE_DIR_VARIABLE} is unset: is src/secure-setup.ts a setup file?`);
  return value;
}

/** The bearer token of every call in secure mode (undefined otherwise). */
export function secureToken(): string | undefined {
  if (!secureMode) return undefined;
  const token = process.env[SECURE_TOKEN_VARIABLE];
  if (!token) throw new Error(`ORDERLY_E2E_SECURE=1 but ${SECURE_TOKEN_VARIABLE} is unset`);
  return token;
}

/** The CA, client certificate and key (PEM) in secure mode. */
export function secureTlsFiles(): { ca: Buffer; cert: Buffer; key: Buffer } {
  const d = dir();
  return {
    ca: readFileSync(join(d, "ca.crt")),
    cert: readFileSync(join(d, "client.crt")),
    key: readFileSync(join(d, "client.key")),
  };
}

/**
 * Channel credentials of a raw @grpc/grpc-js client: plaintext normally; in secure mode TLS with the test CA, the
 * client certificate (mTLS) and `authorization: Bearer <token>` on every call.
 */
export function grpcCredentials(): grpc.ChannelCredentials {
  if (!secureMode) return grpc.credentials.createInsecure();
  const files = secureTlsFiles();
  const token = secureToken();
  const bearer = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    callback(null, metadata);
  });
  return grpc.credentials.combineChannelCredentials(
    grpc.credentials.createSsl(files.ca, files.key, files.cert),
    bearer,
  );
}

/** The base URL of an @orderly/client client: `http://host:port` normally, `https://host:port` in secure mode. */
export function serviceUrl(port: number | string, host = "127.0.0.1"): string {
  return `${secureMode ? "https" : "http"}://${host}:${port}`;
}

/** The `tls` and `token` options of an @orderly/client client in secure mode (nothing otherwise). */
export function clientSecurity(): { tls?: OrderlyClientTls; token?: TokenProvider } {
  if (!secureMode) return {};
  const token = secureToken() as string;
  return { tls: secureTlsFiles(), token: () => token };
}

/**
 * The `security` option of `runLoad` (@orderly/loadtest as a library), to spread into its options: TLS + client
 * certificate + token in secure mode, nothing otherwise.
 */
export function loadtestSecurity(): { security?: LoadSecurity } {
  if (!secureMode) return {};
  const token = secureToken() as string;
  return { security: { tls: secureTlsFiles(), token: () => token, tokenSource: "e2e" } };
}

/** The `pnpm loadtest` flags of secure mode (CA, client certificate and key, token file); none otherwise. */
export function loadtestSecurityArgs(): string[] {
  if (!secureMode) return [];
  const d = dir();
  return [
    "--ca",
    join(d, "ca.crt"),
    "--cert",
    join(d, "client.crt"),
    "--key",
    join(d, "client.key"),
    "--token-file",
    join(d, "token.jwt"),
  ];
}

/**
 * The client settings a separate client process reads (the demo, the Python and Go examples, `pnpm loadtest`):
 * ORDERLY_CA_FILE, ORDERLY_CLIENT_CERT, ORDERLY_CLIENT_KEY, ORDERLY_TOKEN_FILE in secure mode; none otherwise.
 */
export function secureClientEnv(): Record<string, string> {
  if (!secureMode) return {};
  const d = dir();
  return {
    ORDERLY_CA_FILE: join(d, "ca.crt"),
    ORDERLY_CLIENT_CERT: join(d, "client.crt"),
    ORDERLY_CLIENT_KEY: join(d, "client.key"),
    ORDERLY_TOKEN_FILE: join(d, "token.jwt"),
  };
}
