import { describeExpectedVersion, type ExpectedVersion } from "./expected-version.js";

/**
 * Every error the caller caused carries a `code`; `@orderly/grpc-server` maps codes to gRPC status in one place.
 * Anything that is not a DomainError is the server's fault (INTERNAL) or an outage (UnavailableError).
 */
export type ErrorCode =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "aborted"
  | "failed_precondition"
  | "unavailable"
  | "resource_exhausted"
  | "unauthenticated"
  | "permission_denied";

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
}

/** Malformed input: INVALID_ARGUMENT. `field` names the offending field (proto field path). */
export class ValidationError extends DomainError {
  readonly code = "invalid_argument" as const;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = "ValidationError";
  }
}

export class NotFoundError extends DomainError {
  readonly code = "not_found" as const;
  constructor(message: string) {
    super(message);
    this.name = "NotFoundError";
  }
}

export class AlreadyExistsError extends DomainError {
  readonly code = "already_exists" as const;
  constructor(message: string) {
    super(message);
    this.name = "AlreadyExistsError";
  }
}

/** An idempotency key was reused for a different request: ALREADY_EXISTS. */
export class IdempotencyKeyReusedError extends AlreadyExistsError {
  constructor(readonly idempotencyKey: string) {
    super(`idempotency key ${JSON.stringify(idempotencyKey)} was already used for a different request`);
    this.name = "IdempotencyKeyReusedError";
  }
}

/** Optimistic concurrency failed: ABORTED. */
export class VersionConflictError extends DomainError {
  readonly code = "aborted" as const;
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedVersion,
    readonly actual: number | "no_stream",
  ) {
    super(
      `stream ${streamId}: expected ${describeExpectedVersion(expected)}, but it is at ${actual === "no_stream" ? "no stream" : `version ${actual}`}`,
    );
    this.name = "VersionConflictError";
  }
}

/** A business rule forbids the command in the current state: FAILED_PRECONDITION. */
export class BusinessRuleError extends DomainError {
  readonly code = "failed_precondition" as const;
  constructor(message: string) {
    super(message);
    this.name = "BusinessRuleError";
  }
}

/** A dependency is down or a wait ran out: UNAVAILABLE. Retrying is safe. */
export class UnavailableError extends DomainError {
  readonly code = "unavailable" as const;
  constructor(message: string) {
    super(message);
    this.name = "UnavailableError";
  }
}

/** A server-side limit was hit (too many waiters, too large): RESOURCE_EXHAUSTED. */
export class ResourceExhaustedError extends DomainError {
  readonly code = "resource_exhausted" as const;
  constructor(message: string) {
    super(message);
    this.name = "ResourceExhaustedError";
  }
}

/** No valid credentials came with the call (missing, malformed, forged or expired token): UNAUTHENTICATED. */
export class UnauthenticatedError extends DomainError {
  readonly code = "unauthenticated" as const;
  constructor(message: string) {
    super(message);
    this.name = "UnauthenticatedError";
  }
}

/** The caller is known but not allowed this call (a scope is missing): PERMISSION_DENIED. */
export class PermissionDeniedError extends DomainError {
  readonly code = "permission_denied" as const;
  constructor(message: string) {
    super(message);
    this.name = "PermissionDeniedError";
  }
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
