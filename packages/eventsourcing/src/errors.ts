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

type DomainErrorClass<Code extends ErrorCode> = new (message: string) => DomainError & { readonly code: Code };

/**
 * The base class of an error with a fixed `code` and `name` (the name given, not read from the class, so that no
 * bundler's renaming changes it): `class NotFoundError extends domainError("not_found", "NotFoundError") {}`.
 */
function domainError<const Code extends ErrorCode>(code: Code, name: string): DomainErrorClass<Code> {
  return class extends DomainError {
    readonly code: Code = code;
    constructor(message: string) {
      super(message);
      this.name = name;
    }
  };
}

/** Malformed input: INVALID_ARGUMENT. `field` names the offending field (proto field path). */
export class ValidationError extends domainError("invalid_argument", "ValidationError") {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export class NotFoundError extends domainError("not_found", "NotFoundError") {}

export class AlreadyExistsError extends domainError("already_exists", "AlreadyExistsError") {}

/** An idempotency key was reused for a different request: ALREADY_EXISTS. */
export class IdempotencyKeyReusedError extends AlreadyExistsError {
  constructor(readonly idempotencyKey: string) {
    super(`idempotency key ${JSON.stringify(idempotencyKey)} was already used for a different request`);
    this.name = "IdempotencyKeyReusedError";
  }
}

/** Optimistic concurrency failed: ABORTED. */
export class VersionConflictError extends domainError("aborted", "VersionConflictError") {
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedVersion,
    readonly actual: number | "no_stream",
  ) {
    super(
      `stream ${streamId}: expected ${describeExpectedVersion(expected)}, but it is at ${actual === "no_stream" ? "no stream" : `version ${actual}`}`,
    );
  }
}

/** A business rule forbids the command in the current state: FAILED_PRECONDITION. */
export class BusinessRuleError extends domainError("failed_precondition", "BusinessRuleError") {}

/** A dependency is down or a wait ran out: UNAVAILABLE. Retrying is safe. */
export class UnavailableError extends domainError("unavailable", "UnavailableError") {}

/** A server-side limit was hit (too many waiters, too large): RESOURCE_EXHAUSTED. */
export class ResourceExhaustedError extends domainError("resource_exhausted", "ResourceExhaustedError") {}

/** No valid credentials came with the call (missing, malformed, forged or expired token): UNAUTHENTICATED. */
export class UnauthenticatedError extends domainError("unauthenticated", "UnauthenticatedError") {}

/** The caller is known but not allowed this call (a scope is missing): PERMISSION_DENIED. */
export class PermissionDeniedError extends domainError("permission_denied", "PermissionDeniedError") {}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
