import { checkTlsFiles, type ServerTlsOptions } from "./tls.js";

/** How a gRPC server protects itself; read once by a service's composition root and passed to GrpcServer. */
export interface ServerSecurityConfig {
  /** From ORDERLY_TLS_CERT + ORDERLY_TLS_KEY (+ ORDERLY_TLS_CLIENT_CA for mTLS); undefined = plaintext. */
  readonly tls: ServerTlsOptions | undefined;
}

type Env = Record<string, string | undefined>;

/**
 * Reads the ORDERLY_TLS_* settings and checks the files they name. Returns the problems instead of throwing, so that
 * a service reports them together with its own.
 */
export function readServerSecurityConfig(env: Env): { config: ServerSecurityConfig; problems: string[] } {
  const problems: string[] = [];
  const certFile = value(env, "ORDERLY_TLS_CERT");
  const keyFile = value(env, "ORDERLY_TLS_KEY");
  const clientCaFile = value(env, "ORDERLY_TLS_CLIENT_CA");
  const refreshRaw = value(env, "ORDERLY_TLS_REFRESH_MS");
  let tls: ServerTlsOptions | undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    problems.push("ORDERLY_TLS_CERT and ORDERLY_TLS_KEY go together: set both (PEM files) or neither");
  } else if (certFile !== undefined && keyFile !== undefined) {
    let refreshIntervalMs: number | undefined;
    if (refreshRaw !== undefined) {
      refreshIntervalMs = Number(refreshRaw);
      if (!/^\d+$/.test(refreshRaw) || refreshIntervalMs < 100 || refreshIntervalMs > 3_600_000) {
        problems.push(`ORDERLY_TLS_REFRESH_MS=${JSON.stringify(refreshRaw)} is not an integer in 100-3600000`);
      }
    }
    tls = { certFile, keyFile, clientCaFile, refreshIntervalMs };
    try {
      checkTlsFiles(tls);
    } catch (error) {
      problems.push((error as Error).message);
    }
  } else if (clientCaFile !== undefined) {
    problems.push("ORDERLY_TLS_CLIENT_CA (mTLS) needs ORDERLY_TLS_CERT and ORDERLY_TLS_KEY");
  }
  return { config: { tls }, problems };
}

function value(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === "" ? undefined : raw;
}
