import type { Metadata } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { JwtAuthenticator, type JwtAuthOptions, type Principal } from "./auth.js";
import type { GrpcCallContext, ServerCall } from "./call-context.js";
import {
  type CallerLimitOptions,
  CallerRateLimiter,
  callerKey,
  RateLimitedError,
  StreamCounter,
} from "./rate-limit.js";
import type { ReflectionGuard } from "./reflection.js";
import { toGrpcStatus } from "./status.js";

// Who may make a call, and how many: the JWT check of the caller's scope and the per-caller limits, as a server wires
// them once and every call asks them.

/** The server's JWT verifier (undefined without auth); logs each reload of the public key file. */
export function createAuthenticator(auth: JwtAuthOptions | undefined, logger: Logger): JwtAuthenticator | undefined {
  return auth
    ? new JwtAuthenticator({
        ...auth,
        onKeyReload: (problem) => {
          if (problem === undefined) logger.info("JWT public key file changed: the new key is in use");
          else logger.warn({ problem }, "JWT public key file changed but cannot be used");
          auth.onKeyReload?.(problem);
        },
      })
    : undefined;
}

/** Reflection asks for a valid token (any scope) when auth is on. */
export function reflectionGuard(
  auth: JwtAuthenticator | undefined,
): { admit: ReflectionGuard; refuse: (error: unknown) => { code: number; details: string } } | undefined {
  return (
    auth && {
      admit: (metadata: Metadata) => auth.authorize(metadata.get("authorization"), undefined),
      refuse: (error: unknown) => {
        const mapped = toGrpcStatus(error);
        return { code: mapped.code, details: mapped.details };
      },
    }
  );
}

/** The per-caller limiters `limits` asks for: calls per second, open server streams (each undefined when unset). */
export function callerLimits(limits: CallerLimitOptions | undefined): {
  limiter: CallerRateLimiter | undefined;
  openStreams: StreamCounter | undefined;
} {
  return {
    limiter:
      limits?.ratePerSecond !== undefined
        ? new CallerRateLimiter({ ...limits, ratePerSecond: limits.ratePerSecond })
        : undefined,
    openStreams: limits?.maxStreamsPerCaller !== undefined ? new StreamCounter(limits.maxStreamsPerCaller) : undefined,
  };
}

/** The refusal when the caller has used up its calls per second, else undefined. */
export function rateLimited(
  limiter: CallerRateLimiter | undefined,
  ctx: GrpcCallContext,
): RateLimitedError | undefined {
  if (limiter === undefined) return undefined;
  const waitMs = limiter.take(callerKey(ctx.principal?.subject, ctx.peer));
  if (waitMs === 0) return undefined;
  return new RateLimitedError(`rate limit for this caller exceeded; retry in ${waitMs} ms`, waitMs);
}

/**
 * Runs `next` once the caller holds `scope` (at once when auth is off or the token was verified before), else
 * `fail`s the call with UNAUTHENTICATED or PERMISSION_DENIED.
 */
export function admit(
  auth: JwtAuthenticator | undefined,
  call: ServerCall,
  ctx: GrpcCallContext,
  scope: string | undefined,
  fail: (error: unknown) => void,
  next: () => void,
): void {
  if (auth === undefined) {
    next();
    return;
  }
  let principal: Principal | Promise<Principal>;
  try {
    principal = auth.authorize(call.metadata.get("authorization"), scope);
  } catch (error) {
    fail(error);
    return;
  }
  if (principal instanceof Promise) {
    void principal.then((verified) => {
      ctx.principal = verified;
      next();
    }, fail);
  } else {
    ctx.principal = principal;
    next();
  }
}
