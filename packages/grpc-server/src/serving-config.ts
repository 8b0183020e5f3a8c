import { isSecured, readServerSecurityConfig, type ServerSecurityConfig } from "./security-config.js";

/** Where and how a service's gRPC server listens: the same settings for every service. */
export interface ServingConfig {
  /** Interface to bind (`<SERVICE>_HOST`; default 0.0.0.0 with TLS or auth on, else 127.0.0.1). */
  readonly host: string;
  /** TLS / mTLS and authorization of the gRPC server (ORDERLY_TLS_*, ORDERLY_JWT_*; readServerSecurityConfig). */
  readonly security: ServerSecurityConfig;
  /** Where the `.proto` files for gRPC reflection are (ORDERLY_PROTO_DIR; default: found beside the code). */
  readonly protoDir: string | undefined;
}

/** Reads the serving settings, `hostVariable` naming the service's host variable; adds its problems to `problems`. */
export function readServingConfig(
  env: Record<string, string | undefined>,
  hostVariable: string,
  problems: string[],
): ServingConfig {
  const security = readServerSecurityConfig(env);
  problems.push(...security.problems);
  return {
    // Without TLS and auth (dev mode) only this machine can call; set the host variable to 0.0.0.0 to open it anyway.
    host: env[hostVariable]?.trim() || (isSecured(security.config) ? "0.0.0.0" : "127.0.0.1"),
    security: security.config,
    protoDir: env.ORDERLY_PROTO_DIR?.trim() || undefined,
  };
}
