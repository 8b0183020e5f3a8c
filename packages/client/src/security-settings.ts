import { readFileSync, statSync } from "node:fs";
import type { TokenProvider } from "./auth.js";

// Security settings of any Orderly client from files and the environment, one place for every caller (the demo,
// `pnpm loadtest`, the examples follow the same names): ORDERLY_CA_FILE, ORDERLY_CLIENT_CERT, ORDERLY_CLIENT_KEY,
// ORDERLY_TLS_SERVER_NAME, ORDERLY_TOKEN_FILE, ORDERLY_TOKEN. Services read the environment in `main` and pass it in.

/** TLS read from PEM files (usable as `OrderlyClientTls`, and by grpc-js's `credentials.createSsl`). */
export interface ClientTlsFiles {
  readonly ca: Buffer | undefined;
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  readonly serverName: string | undefined;
}

/** TLS and a bearer token of a client, read from files; `tokenSource` (`file`, `env`) says where the token came from. */
export interface ClientSecurity {
  readonly tls?: ClientTlsFiles | undefined;
  readonly token?: TokenProvider | undefined;
  readonly tokenSource?: string | undefined;
}

/**
 * A token provider reading a file (one JWT, surrounding whitespace ignored) that is re-read when it changes — its
 * modification time or size, checked at most every `recheckMs` — so a token refreshed on disk (a sidecar, a
 * Kubernetes projected volume) is used from the next call on without a restart. A file that is momentarily empty
 * (half-written) keeps the previous token. Throws at once when the file cannot be read or is empty.
 */
export function fileTokenProvider(
  path: string,
  options: { recheckMs?: number; now?: () => number } = {},
): TokenProvider {
  const recheckMs = options.recheckMs ?? 1000;
  const now = options.now ?? Date.now;
  const read = (): { token: string; stamp: string } => {
    const stat = statSync(path);
    return { token: readFileSync(path, "utf8").trim(), stamp: `${stat.mtimeMs}:${stat.size}:${stat.ino}` };
  };
  let current = read();
  if (!current.token) throw new Error(`the token file ${path} is empty`);
  let checkedAt = now();
  return () => {
    const t = now();
    if (t - checkedAt >= recheckMs) {
      checkedAt = t;
      try {
        const stat = statSync(path);
        if (`${stat.mtimeMs}:${stat.size}:${stat.ino}` !== current.stamp) {
          const fresh = read();
          if (fresh.token) current = fresh;
        }
      } catch {
        // the file is being replaced: keep the token we have until the next check
      }
    }
    return current.token;
  };
}

/** Where the CLI takes its security settings from (flags, else environment). */
export interface SecuritySettings {
  readonly tls?: boolean | undefined;
  readonly caFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly serverName?: string | undefined;
  readonly tokenFile?: string | undefined;
  /** The token itself (from the environment: a token on the command line would show in `ps` and in the report). */
  readonly token?: string | undefined;
}

/** The environment variables the CLI reads when the matching flag is absent. */
export const SECURITY_ENV = {
  caFile: "ORDERLY_CA_FILE",
  certFile: "ORDERLY_CLIENT_CERT",
  keyFile: "ORDERLY_CLIENT_KEY",
  serverName: "ORDERLY_TLS_SERVER_NAME",
  tokenFile: "ORDERLY_TOKEN_FILE",
  token: "ORDERLY_TOKEN",
} as const;

/** Settings from the environment (`SECURITY_ENV`), empty values ignored. */
export function securitySettingsFromEnv(env: NodeJS.ProcessEnv): SecuritySettings {
  const get = (name: string) => (env[name] ? env[name] : undefined);
  return {
    caFile: get(SECURITY_ENV.caFile),
    certFile: get(SECURITY_ENV.certFile),
    keyFile: get(SECURITY_ENV.keyFile),
    serverName: get(SECURITY_ENV.serverName),
    tokenFile: get(SECURITY_ENV.tokenFile),
    token: get(SECURITY_ENV.token),
  };
}

/**
 * Reads the files the settings name. TLS is on with `tls` or any of CA, certificate, key and server name; a token
 * file wins over a token value. Errors name the file, never its content.
 */
export function readClientSecurity(settings: SecuritySettings): ClientSecurity | undefined {
  const readPem = (file: string | undefined, what: string): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (error) {
      throw new Error(`cannot read the ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
    }
  };
  const tlsOn =
    settings.tls === true ||
    settings.caFile !== undefined ||
    settings.certFile !== undefined ||
    settings.keyFile !== undefined ||
    settings.serverName !== undefined;
  if ((settings.certFile === undefined) !== (settings.keyFile === undefined)) {
    throw new Error(
      "a client certificate needs its key (--cert and --key, or ORDERLY_CLIENT_CERT and ORDERLY_CLIENT_KEY)",
    );
  }
  const tls: ClientTlsFiles | undefined = tlsOn
    ? {
        ca: readPem(settings.caFile, "CA certificate"),
        cert: readPem(settings.certFile, "client certificate"),
        key: readPem(settings.keyFile, "client key"),
        serverName: settings.serverName,
      }
    : undefined;
  let token: TokenProvider | undefined;
  let tokenSource: string | undefined;
  if (settings.tokenFile !== undefined) {
    try {
      token = fileTokenProvider(settings.tokenFile);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new Error(code ? `cannot read the token file ${settings.tokenFile}: ${code}` : (error as Error).message);
    }
    tokenSource = "file";
  } else if (settings.token !== undefined) {
    const value = settings.token.trim();
    if (!value) throw new Error(`${SECURITY_ENV.token} is empty`);
    token = () => value;
    tokenSource = "env";
  }
  if (!tls && !token) return undefined;
  return { tls, token, tokenSource };
}
