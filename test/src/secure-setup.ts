import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Scopes } from "@orderly/grpc-server";
import { localPki, securedServiceEnv } from "@orderly/grpc-server/testing";
import { afterAll } from "vitest";
import { SECURE_DIR_VARIABLE, SECURE_TOKEN_VARIABLE, secureMode } from "./secure-mode.js";
import { signToken } from "./test-tokens.js";

// Vitest setup file (vitest.config.ts). With ORDERLY_E2E_SECURE=1: one CA, a server certificate for localhost and
// 127.0.0.1, a client certificate and an ES256 key pair per test file, and the six settings of issue 15's
// "Done when" in process.env, which every service the suites spawn inherits. Without the switch it does nothing.

const ISSUER = "https://issuer.orderly-e2e.test";
const AUDIENCE = "orderly";

if (secureMode) {
  // Per test file (a setup file runs before each): fresh files, removed when the file's tests are done.
  const dir = mkdtempSync(join(tmpdir(), "orderly-e2e-secure-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const pki = localPki(dir, "orderly-e2e");
  const token = await signToken(pki.signing.privateKey, {
    scope: `${Scopes.write} ${Scopes.read}`,
    issuer: ISSUER,
    audience: AUDIENCE,
    subject: "orderly-e2e",
    seconds: 4 * 3600,
    issuedAt: true,
  });
  // The token as a file too: the load generator's CLI takes --token-file (a token never goes on a command line).
  writeFileSync(join(dir, "token.jwt"), `${token}\n`, { mode: 0o600 });
  Object.assign(process.env, {
    ...securedServiceEnv(pki, { issuer: ISSUER, audience: AUDIENCE }),
    [SECURE_DIR_VARIABLE]: dir,
    [SECURE_TOKEN_VARIABLE]: token,
  });
}
