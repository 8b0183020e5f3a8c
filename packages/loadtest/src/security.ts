import { readFileSync, statSync } from "node:fs";
import {
  type CallCredentials,
  type ChannelCredentials,
  type ClientOptions,
  credentials,
  Metadata,
} from "@grpc/grpc-js";

/**
 * Returns the bearer token of the next call; asked once per call, so it may refresh the token (the same shape as
 * @orderly/client's `TokenProvider`). A synchronous answer costs nothing extra per call; a promise makes grpc-js
 * wait for it through per-call credentials.
 */
export type TokenProvider = () => string | Promise<string>;

/** TLS of the generator's connections (PEM). */
export interface LoadTls {
  /** The CA that signed the server's certificate (default: the system's roots). */
  readonly ca?: Buffer | undefined;
  /** This client's certificate and key, for a server that requires mTLS. */
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
  /** The name the server's certificate must carry, when it is not the host of the address (e.g. `localhost`). */
  readonly serverName?: string | undefined;
}

/** How the generator authenticates: TLS (with a client certificate for mTLS) and/or a bearer token per call. */
export interface LoadSecurity {
  readonly tls?: LoadTls | undefined;
  readonly token?: TokenProvider | undefined;
  /** For the report only: where the token comes from (`file`, `env`, …); never the token. */
  readonly tokenSource?: string | undefined;
}

/** What the report says about the security of a run: never a secret, only whether each part was on. */
export interface SecurityReport {
  readonly tls: boolean;
  readonly client_certificate: boolean;
  readonly server_name: string | null;
  /** Where the bearer token came from (`file`, `env`, `provider`), or null: no token. */
  readonly token: string | null;
}

export function describeSecurity(security: LoadSecurity | undefined): SecurityReport {
  return {
    tls: security?.tls !== undefined,
    client_certificate: security?.tls?.cert !== undefined,
    server_name: security?.tls?.serverName ?? null,
    token: security?.token ? (security.tokenSource ?? "provider") : null,
  };
}

/** Channel credentials and options of one grpc-js client: plaintext, or TLS with an optional client certificate. */
export function channelSecurity(tls: LoadTls | undefined): { credentials: ChannelCredentials; options: ClientOptions } {
  if (!tls) return { credentials: credentials.createInsecure(), options: {} };
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new Error("a client certificate needs its key (and a key its certificate)");
  }
  return {
    credentials: credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null),
    options: tls.serverName
      ? { "grpc.ssl_target_name_override": tls.serverName, "grpc.default_authority": tls.serverName }
      : {},
  };
}

const NO_METADATA = new Metadata();

/**
 * The per-call part of the security: `authorization: Bearer <token>` from the token provider, asked on every call.
 * grpc-js clones the metadata it is given, so one Metadata object per distinct token is reused (no allocation per
 * call while the token does not change). An asynchronous provider, or one that fails, goes through per-call
 * credentials: grpc-js waits for the token, or fails the call (UNAVAILABLE, "Getting metadata from plugin failed")
 * without sending it.
 */
export class BearerMetadata {
  private token = "";
  private metadata = NO_METADATA;

  constructor(private readonly provider: TokenProvider | undefined) {}

  /** The metadata (and, for an asynchronous or failed provider, the call credentials) of the next call. */
  next(): { metadata: Metadata; credentials?: CallCredentials } {
    const provider = this.provider;
    if (!provider) return { metadata: NO_METADATA };
    let value: string | Promise<string>;
    try {
      value = provider();
    } catch (error) {
      return { metadata: NO_METADATA, credentials: failingCredentials(error) };
    }
    if (typeof value === "string") {
      if (!value) return { metadata: NO_METADATA, credentials: failingCredentials(new Error("empty token")) };
      return { metadata: this.metadataFor(value) };
    }
    const pending = value;
    return {
      metadata: NO_METADATA,
      credentials: credentials.createFromMetadataGenerator((_params, callback) => {
        pending.then(
          (token) => {
            if (!token) {
              callback(new Error("the token provider returned no token"));
              return;
            }
            callback(null, this.metadataFor(token).clone());
          },
          (error: unknown) => callback(asError(error)),
        );
      }),
    };
  }

  private metadataFor(token: string): Metadata {
    if (token !== this.token) {
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${token}`);
      this.token = token;
      this.metadata = metadata;
    }
    return this.metadata;
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function failingCredentials(error: unknown): CallCredentials {
  const cause = asError(error);
  return credentials.createFromMetadataGenerator((_params, callback) =>
    callback(new Error(`token provider failed: ${cause.message}`)),
  );
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
export function loadSecurity(settings: SecuritySettings): LoadSecurity | undefined {
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
    throw new Error("a client certificate needs its key: give both --cert and --key");
  }
  const tls: LoadTls | undefined = tlsOn
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
