import type { JwtAuthOptions } from "./auth.js";
import { readPublicKey } from "./auth.js";
import { type CallerLimitOptions, parseRate } from "./rate-limit.js";
import { DEFAULT_MAX_DEADLINE_MS } from "./server.js";
import { checkTlsFiles, type ServerTlsOptions } from "./tls.js";

/** How a gRPC server protects itself; read once by a service's composition root and passed to GrpcServer. */
export interface ServerSecurityConfig {
  /** From ORDERLY_TLS_CERT + ORDERLY_TLS_KEY (+ ORDERLY_TLS_CLIENT_CA for mTLS); undefined = plaintext. */
  readonly tls: ServerTlsOptions | undefined;
  /**
   * From ORDERLY_JWT_PUBLIC_KEY_FILE or ORDERLY_JWT_JWKS_URL, with ORDERLY_JWT_ISSUER and ORDERLY_JWT_AUDIENCE
   * (+ ORDERLY_JWT_CLOCK_SKEW_S, default 30); undefined = no authorization.
   */
  readonly auth: JwtAuthOptions | undefined;
  /**
   * From ORDERLY_RATE_LIMIT_PER_CALLER (`500/s`, `6000/min`), ORDERLY_RATE_LIMIT_BURST (default one second's worth)
   * and ORDERLY_MAX_STREAMS_PER_CALLER; undefined = no per-caller limits.
   */
  readonly limits: CallerLimitOptions | undefined;
  /** From ORDERLY_MAX_DEADLINE_MS (default 30,000): the longest a unary call may run, whatever its deadline. */
  readonly maxDeadlineMs: number;
}

type Env = Record<string, string | undefined>;

/**
 * Reads the ORDERLY_TLS_* and ORDERLY_JWT_* settings and checks the files they name. Returns the problems instead of throwing, so that
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
  const auth = readAuth(env, problems);
  const limits = readLimits(env, problems);
  let maxDeadlineMs = DEFAULT_MAX_DEADLINE_MS;
  const deadlineRaw = value(env, "ORDERLY_MAX_DEADLINE_MS");
  if (deadlineRaw !== undefined) {
    maxDeadlineMs = Number(deadlineRaw);
    if (!/^\d+$/.test(deadlineRaw) || maxDeadlineMs < 100 || maxDeadlineMs > 3_600_000) {
      problems.push(`ORDERLY_MAX_DEADLINE_MS=${JSON.stringify(deadlineRaw)} is not an integer in 100-3600000`);
    }
  }
  return { config: { tls, auth, limits, maxDeadlineMs }, problems };
}

function readAuth(env: Env, problems: string[]): JwtAuthOptions | undefined {
  const publicKeyFile = value(env, "ORDERLY_JWT_PUBLIC_KEY_FILE");
  const jwksUrl = value(env, "ORDERLY_JWT_JWKS_URL");
  const issuer = value(env, "ORDERLY_JWT_ISSUER");
  const audience = value(env, "ORDERLY_JWT_AUDIENCE");
  const skewRaw = value(env, "ORDERLY_JWT_CLOCK_SKEW_S");
  if (publicKeyFile === undefined && jwksUrl === undefined) {
    if (issuer !== undefined || audience !== undefined) {
      problems.push("ORDERLY_JWT_ISSUER/AUDIENCE need ORDERLY_JWT_PUBLIC_KEY_FILE or ORDERLY_JWT_JWKS_URL");
    }
    return undefined;
  }
  if (publicKeyFile !== undefined && jwksUrl !== undefined) {
    problems.push("set one of ORDERLY_JWT_PUBLIC_KEY_FILE and ORDERLY_JWT_JWKS_URL, not both");
  }
  if (issuer === undefined) problems.push("ORDERLY_JWT_ISSUER is required with JWT authorization");
  if (audience === undefined) problems.push("ORDERLY_JWT_AUDIENCE is required with JWT authorization");
  let clockToleranceSeconds = 30;
  if (skewRaw !== undefined) {
    clockToleranceSeconds = Number(skewRaw);
    if (!/^\d+$/.test(skewRaw) || clockToleranceSeconds > 300) {
      problems.push(`ORDERLY_JWT_CLOCK_SKEW_S=${JSON.stringify(skewRaw)} is not an integer in 0-300 (default 30)`);
    }
  }
  if (publicKeyFile !== undefined) {
    try {
      readPublicKey(publicKeyFile);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (jwksUrl !== undefined) {
    try {
      const url = new URL(jwksUrl);
      const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
      if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
        problems.push(`ORDERLY_JWT_JWKS_URL must be https (http only on loopback): ${jwksUrl}`);
      }
    } catch {
      problems.push(`ORDERLY_JWT_JWKS_URL=${JSON.stringify(jwksUrl)} is not a URL`);
    }
  }
  const refreshRaw = value(env, "ORDERLY_JWT_KEY_REFRESH_MS");
  let keyRefreshMs: number | undefined;
  if (refreshRaw !== undefined) {
    keyRefreshMs = Number(refreshRaw);
    if (!/^\d+$/.test(refreshRaw) || keyRefreshMs < 100 || keyRefreshMs > 3_600_000) {
      problems.push(`ORDERLY_JWT_KEY_REFRESH_MS=${JSON.stringify(refreshRaw)} is not an integer in 100-3600000`);
    }
  }
  return {
    publicKeyFile,
    jwksUrl,
    issuer: issuer ?? "",
    audience: audience ?? "",
    clockToleranceSeconds,
    ...(keyRefreshMs === undefined ? {} : { keyRefreshMs }),
  };
}

/** Whether TLS or authorization is on (off = dev mode: bind to loopback and say so). */
export function isSecured(config: ServerSecurityConfig): boolean {
  return config.tls !== undefined || config.auth !== undefined;
}

/** The one warning a service logs when it runs without TLS and without authorization. */
export function insecureWarning(host: string): string {
  return `auth and TLS are off: anyone who can reach ${host} may call (dev mode); set ORDERLY_TLS_* and ORDERLY_JWT_* (docs/security.md, \`pnpm orderly dev-certs\`)`;
}

function readLimits(env: Env, problems: string[]): CallerLimitOptions | undefined {
  const rateRaw = value(env, "ORDERLY_RATE_LIMIT_PER_CALLER");
  const burstRaw = value(env, "ORDERLY_RATE_LIMIT_BURST");
  const streamsRaw = value(env, "ORDERLY_MAX_STREAMS_PER_CALLER");
  if (rateRaw === undefined && burstRaw === undefined && streamsRaw === undefined) return undefined;
  let ratePerSecond: number | undefined;
  if (rateRaw !== undefined) {
    ratePerSecond = parseRate(rateRaw);
    if (ratePerSecond === undefined) {
      problems.push(`ORDERLY_RATE_LIMIT_PER_CALLER=${JSON.stringify(rateRaw)} is not a rate (e.g. 500/s or 6000/min)`);
    }
  }
  const integer = (raw: string | undefined, name: string): number | undefined => {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < 1) {
      problems.push(`${name}=${JSON.stringify(raw)} is not a positive integer`);
      return undefined;
    }
    return n;
  };
  const burst = integer(burstRaw, "ORDERLY_RATE_LIMIT_BURST");
  if (burst !== undefined && rateRaw === undefined) {
    problems.push("ORDERLY_RATE_LIMIT_BURST needs ORDERLY_RATE_LIMIT_PER_CALLER");
  }
  return { ratePerSecond, burst, maxStreamsPerCaller: integer(streamsRaw, "ORDERLY_MAX_STREAMS_PER_CALLER") };
}

function value(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === "" ? undefined : raw;
}
