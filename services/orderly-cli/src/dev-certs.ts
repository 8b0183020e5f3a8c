import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createCertificateAuthority, issueCertificate, Scopes } from "@orderly/grpc-server";
import { SignJWT } from "jose";
import { type CliCommand, EXIT_OK } from "./command.js";

const checkoutRoot = fileURLToPath(new URL("../../../", import.meta.url));
const ISSUER = "orderly-dev";
const AUDIENCE = "orderly";

/**
 * `pnpm orderly dev-certs`: a local CA, a server certificate for localhost, a client certificate, a JWT signing key
 * and a token per scope, under `.orderly/dev-certs/` (git-ignored), plus `secure.env` with the settings that turn TLS,
 * mTLS and JWT on. For development only: the CA and signing keys sit beside the certificates.
 */
export const devCertsCommand: CliCommand = {
  name: "dev-certs",
  description: "make a local CA, server/client certificates and a signed token per scope in .orderly/dev-certs/",
  configure(command) {
    command.option("--dir <dir>", "where to write them (default .orderly/dev-certs in the checkout)");
    command.option("--subject <sub>", "the tokens' sub (the caller's identity)", "dev-client");
    command.option("--days <n>", "lifetime of certificates and tokens", "30");
  },
  async run(_context, _args, options) {
    const dir = resolve(typeof options.dir === "string" ? options.dir : join(checkoutRoot, ".orderly", "dev-certs"));
    const subject = typeof options.subject === "string" ? options.subject : "dev-client";
    const days = Math.max(1, Number(options.days) || 30);
    mkdirSync(dir, { recursive: true, mode: 0o700 });

    const ca = createCertificateAuthority(dir, "ca", "Orderly dev CA");
    const server = issueCertificate(ca, dir, "server", {
      commonName: "localhost",
      hosts: ["localhost", "127.0.0.1", "::1"],
      usage: "server",
      days,
    });
    const client = issueCertificate(ca, dir, "client", { commonName: subject, usage: "client", days });

    const signing = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const signingKey = join(dir, "jwt-signing.key");
    const publicKey = join(dir, "jwt-public.pem");
    writeFileSync(signingKey, signing.privateKey.export({ type: "pkcs8", format: "pem" }));
    chmodSync(signingKey, 0o600);
    writeFileSync(publicKey, signing.publicKey.export({ type: "spki", format: "pem" }));

    const now = Math.floor(Date.now() / 1000);
    const tokens: Record<string, string> = {};
    const scopes: Record<string, string> = {
      write: Scopes.write,
      read: Scopes.read,
      admin: Scopes.admin,
      all: `${Scopes.write} ${Scopes.read} ${Scopes.admin}`,
    };
    for (const [name, scope] of Object.entries(scopes)) {
      const token = await new SignJWT({ scope })
        .setProtectedHeader({ alg: "ES256", typ: "JWT" })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(subject)
        .setIssuedAt(now)
        .setExpirationTime(now + days * 86_400)
        .sign(signing.privateKey);
      const file = join(dir, `token-${name}.jwt`);
      writeFileSync(file, `${token}\n`);
      chmodSync(file, 0o600);
      tokens[name] = file;
    }

    const env = [
      `ORDERLY_TLS_CERT=${server.cert}`,
      `ORDERLY_TLS_KEY=${server.key}`,
      `ORDERLY_TLS_CLIENT_CA=${ca.cert}`,
      `ORDERLY_JWT_PUBLIC_KEY_FILE=${publicKey}`,
      `ORDERLY_JWT_ISSUER=${ISSUER}`,
      `ORDERLY_JWT_AUDIENCE=${AUDIENCE}`,
    ];
    const envFile = join(dir, "secure.env");
    writeFileSync(envFile, `${env.join("\n")}\n`);

    const shown = relative(process.cwd(), dir) || ".";
    const text = `dev certificates and tokens in ${shown}/ (valid ${days} days; development only)

start the stack with TLS, mTLS and JWT on:
  set -a; . ${shown}/secure.env; set +a; pnpm start

call it (grpcurl):
  grpcurl -cacert ${shown}/ca.crt -cert ${shown}/client.crt -key ${shown}/client.key \\
    -H "authorization: Bearer $(cat ${shown}/token-all.jwt)" \\
    -d '{"order_id":"…"}' localhost:50052 orderly.orders.v1.QueryService/GetOrderSummary

tokens (sub=${subject}): ${Object.keys(tokens)
      .map((name) => `token-${name}.jwt`)
      .join(", ")}
`;
    return {
      exitCode: EXIT_OK,
      json: {
        dir,
        ca: ca.cert,
        server,
        client,
        jwtPublicKey: publicKey,
        tokens,
        env: envFile,
        issuer: ISSUER,
        audience: AUDIENCE,
      },
      text,
    };
  },
};
