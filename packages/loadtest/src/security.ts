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

export {
  fileTokenProvider,
  readClientSecurity as loadSecurity,
  SECURITY_ENV,
  type SecuritySettings,
  securitySettingsFromEnv,
} from "@orderly/client";
