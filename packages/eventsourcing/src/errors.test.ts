import { describe, expect, it } from "vitest";
import {
  AlreadyExistsError,
  BusinessRuleError,
  DomainError,
  IdempotencyKeyReusedError,
  isDomainError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  UnauthenticatedError,
  UnavailableError,
  ValidationError,
  VersionConflictError,
} from "./errors.js";

describe("domain errors", () => {
  it.each([
    [
      new ValidationError("items", "at least one"),
      ValidationError,
      "ValidationError",
      "invalid_argument",
      "items: at least one",
    ],
    [new NotFoundError("no order o-1"), NotFoundError, "NotFoundError", "not_found", "no order o-1"],
    [
      new AlreadyExistsError("order o-1 exists"),
      AlreadyExistsError,
      "AlreadyExistsError",
      "already_exists",
      "order o-1 exists",
    ],
    [
      new IdempotencyKeyReusedError("k-1"),
      AlreadyExistsError,
      "IdempotencyKeyReusedError",
      "already_exists",
      'idempotency key "k-1" was already used for a different request',
    ],
    [
      new VersionConflictError("order-1", 2, 3),
      VersionConflictError,
      "VersionConflictError",
      "aborted",
      "stream order-1: expected version 2, but it is at version 3",
    ],
    [
      new BusinessRuleError("already shipped"),
      BusinessRuleError,
      "BusinessRuleError",
      "failed_precondition",
      "already shipped",
    ],
    [new UnavailableError("Postgres down"), UnavailableError, "UnavailableError", "unavailable", "Postgres down"],
    [
      new ResourceExhaustedError("too many"),
      ResourceExhaustedError,
      "ResourceExhaustedError",
      "resource_exhausted",
      "too many",
    ],
    [new UnauthenticatedError("no token"), UnauthenticatedError, "UnauthenticatedError", "unauthenticated", "no token"],
    [
      new PermissionDeniedError("no scope"),
      PermissionDeniedError,
      "PermissionDeniedError",
      "permission_denied",
      "no scope",
    ],
  ] as const)("%s keeps its class, name, code and message", (error, type, name, code, message) => {
    expect(error).toBeInstanceOf(type);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toBeInstanceOf(Error);
    expect(isDomainError(error)).toBe(true);
    expect(error.name).toBe(name);
    expect(error.code).toBe(code);
    expect(error.message).toBe(message);
    expect(String(error)).toBe(`${name}: ${message}`);
  });

  it("tells its classes apart, and keeps the fields it was made with", () => {
    expect(new NotFoundError("x")).not.toBeInstanceOf(AlreadyExistsError);
    expect(new AlreadyExistsError("x")).not.toBeInstanceOf(IdempotencyKeyReusedError);
    expect(new IdempotencyKeyReusedError("k").idempotencyKey).toBe("k");
    expect(new ValidationError("items", "x").field).toBe("items");
    expect(new VersionConflictError("s", "no_stream", 1)).toMatchObject({
      streamId: "s",
      expected: "no_stream",
      actual: 1,
    });
    expect(isDomainError(new Error("x"))).toBe(false);
  });
});
