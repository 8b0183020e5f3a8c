import { status as Status } from "@grpc/grpc-js";
import { type ErrorCode, isDomainError } from "@orderly/eventsourcing";

/**
 * The one place where a DomainError's `code` becomes a gRPC status. Anything not listed here is the server's fault
 * and leaves as INTERNAL with a generic message (the real error is logged, never sent).
 */
export const statusByErrorCode: Readonly<Record<ErrorCode, Status>> = {
  invalid_argument: Status.INVALID_ARGUMENT,
  not_found: Status.NOT_FOUND,
  already_exists: Status.ALREADY_EXISTS,
  aborted: Status.ABORTED,
  failed_precondition: Status.FAILED_PRECONDITION,
  unavailable: Status.UNAVAILABLE,
  resource_exhausted: Status.RESOURCE_EXHAUSTED,
  unauthenticated: Status.UNAUTHENTICATED,
  permission_denied: Status.PERMISSION_DENIED,
};

export const INTERNAL_MESSAGE = "internal error";

export interface MappedStatus {
  readonly code: Status;
  readonly details: string;
  /** The DomainError code that was mapped (sent to clients as the `orderly-error-code` trailer). */
  readonly errorCode?: ErrorCode;
  /** True when the error is a server fault that must be logged with its stack. */
  readonly internal: boolean;
}

/** Maps a thrown value to the status a client sees. */
export function toGrpcStatus(error: unknown): MappedStatus {
  const code = errorCode(error);
  if (code !== undefined) {
    return { code: statusByErrorCode[code], details: (error as Error).message, errorCode: code, internal: false };
  }
  return { code: Status.INTERNAL, details: INTERNAL_MESSAGE, internal: true };
}

function errorCode(error: unknown): ErrorCode | undefined {
  if (isDomainError(error)) return error.code;
  // A DomainError from a second copy of @orderly/eventsourcing (instanceof fails across copies): trust the shape.
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    if (typeof code === "string" && Object.hasOwn(statusByErrorCode, code)) return code as ErrorCode;
  }
  return undefined;
}

/** `OK`, `INVALID_ARGUMENT`, ... (the label value in metrics and logs). */
export function statusName(code: Status): string {
  return Status[code] ?? `CODE_${code}`;
}
