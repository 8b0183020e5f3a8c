import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import {
  type CancelOrderRequest,
  type CancelOrderResponse,
  CancelOrderResponseSchema,
  type CommandAccepted,
  CommandAcceptedSchema,
  type CreateOrderRequest,
  type CreateOrderResponse,
  CreateOrderResponseSchema,
  PaymentStatus as ProtoPaymentStatus,
  type ShipOrderRequest,
  type ShipOrderResponse,
  ShipOrderResponseSchema,
  type UpdatePaymentStatusRequest,
  type UpdatePaymentStatusResponse,
  UpdatePaymentStatusResponseSchema,
} from "@orderly/contracts";
import {
  type CommandMetadata,
  type CommandOutcome,
  type IdempotencyClaim,
  ValidationError,
} from "@orderly/eventsourcing";
import {
  type CancelOrder,
  type CreateOrder,
  type OrderCommand,
  orderIdOfStream,
  type PaymentStatus,
  type ShipOrder,
  type UpdatePaymentStatus,
  validateIdempotencyKey,
} from "@orderly/orders-domain";
import {
  encodeCancelOrder,
  encodeCreateOrder,
  encodeShipOrder,
  encodeUpdatePaymentStatus,
  type ProtoWriter,
  requestHash,
} from "./request-hash.js";

// The one place where protobuf meets the domain: requests become commands, outcomes become CommandAccepted.
// Everything that is malformed on the wire (bad UUID, UNSPECIFIED or unknown enum, int64 beyond 2^53) is a
// ValidationError naming the proto field; the domain checks the limits on the command itself.

/** A command ready for the pipeline: what to decide, under which idempotency key, with which concurrency check. */
export interface CommandRequest<C extends OrderCommand = OrderCommand> {
  readonly command: C;
  readonly idempotency: IdempotencyClaim;
  /** The client's `expected_version`, when it sent one (a mismatch is ABORTED). */
  readonly expectedVersion: number | undefined;
}

/** What the edge knows about the call besides the request message. */
export interface CallContext {
  /** gRPC request metadata, lower-case keys. */
  readonly headers: Readonly<Record<string, string>>;
  /** True once the client has cancelled or the deadline has passed. */
  readonly aborted?: boolean;
  /** The verified token's principal when auth is on. */
  readonly principal?: { readonly subject: string } | undefined;
  /** Under mTLS, the subject of the client's certificate. */
  readonly clientCertificateSubject?: string | undefined;
  /** With tracing on, the call's SERVER span: the events carry it as their traceparent. */
  readonly traceparent?: string | undefined;
}

/**
 * The audit identity recorded in every event the command raises: the token's `sub`; without a token, the client
 * certificate's subject as `x509:<subject>`; undefined when neither authenticates the caller (auth off).
 */
export function actorOf(call: CallContext): string | undefined {
  const subject = call.principal?.subject;
  if (subject) return subject;
  const certificate = call.clientCertificateSubject;
  return certificate ? `x509:${certificate}` : undefined;
}

export const rpcNames = {
  createOrder: "orderly.orders.v1.CommandService/CreateOrder",
  updatePaymentStatus: "orderly.orders.v1.CommandService/UpdatePaymentStatus",
  shipOrder: "orderly.orders.v1.CommandService/ShipOrder",
  cancelOrder: "orderly.orders.v1.CommandService/CancelOrder",
} as const;

export function toCreateOrder(request: CreateOrderRequest, call: CallContext): CommandRequest<CreateOrder> {
  return commandRequest("CreateOrder", rpcNames.createOrder, request, encodeCreateOrder(request), call, () => ({
    orderId: request.orderId === "" ? randomUUID() : toOrderId(request.orderId),
    customerId: request.customerId,
    currency: request.currency,
    items: request.items.map((item, i) => ({
      sku: item.sku,
      quantity: item.quantity,
      unitPriceMinor: isSafe(item.unitPriceMinor)
        ? Number(item.unitPriceMinor)
        : toSafeNumber(`items[${i}].unit_price_minor`, item.unitPriceMinor),
    })),
  }));
}

export function toUpdatePaymentStatus(
  request: UpdatePaymentStatusRequest,
  call: CallContext,
): CommandRequest<UpdatePaymentStatus> {
  const encode = encodeUpdatePaymentStatus(request);
  return commandRequest("UpdatePaymentStatus", rpcNames.updatePaymentStatus, request, encode, call, () => ({
    orderId: toOrderId(request.orderId),
    status: toPaymentStatus(request.status),
    amountMinor: toSafeNumber("amount_minor", request.amountMinor),
    paymentReference: request.paymentReference,
  }));
}

export function toShipOrder(request: ShipOrderRequest, call: CallContext): CommandRequest<ShipOrder> {
  return commandRequest("ShipOrder", rpcNames.shipOrder, request, encodeShipOrder(request), call, () => ({
    orderId: toOrderId(request.orderId),
    carrier: request.carrier,
    trackingNumber: request.trackingNumber,
  }));
}

export function toCancelOrder(request: CancelOrderRequest, call: CallContext): CommandRequest<CancelOrder> {
  return commandRequest("CancelOrder", rpcNames.cancelOrder, request, encodeCancelOrder(request), call, () => ({
    orderId: toOrderId(request.orderId),
    reason: request.reason,
  }));
}

/**
 * What every request maps the same way, in this order: the idempotency claim (the key's limits first), the command's
 * data, the call's metadata, then the client's `expected_version` (CreateOrder has none).
 */
function commandRequest<C extends OrderCommand>(
  type: C["type"],
  rpc: string,
  request: { readonly idempotencyKey: string; readonly expectedVersion?: bigint },
  encode: (writer: ProtoWriter) => void,
  call: CallContext,
  data: () => C["data"],
): CommandRequest<C> {
  const idempotency = claim(rpc, request.idempotencyKey, encode, call);
  return {
    command: { type, data: data(), metadata: metadataOf(call) } as C,
    idempotency,
    expectedVersion: toExpectedVersion(request.expectedVersion),
  };
}

export function toCommandAccepted(outcome: CommandOutcome): CommandAccepted {
  return create(CommandAcceptedSchema, {
    commandId: outcome.commandId,
    orderId: orderIdOfStream(outcome.streamId),
    streamVersion: BigInt(outcome.streamVersion),
    position: BigInt(outcome.position),
    duplicate: outcome.duplicate,
  });
}

// Each RPC's reply: the command's CommandAccepted.
export const toCreateOrderResponse = (outcome: CommandOutcome): CreateOrderResponse =>
  create(CreateOrderResponseSchema, { accepted: toCommandAccepted(outcome) });
export const toUpdatePaymentStatusResponse = (outcome: CommandOutcome): UpdatePaymentStatusResponse =>
  create(UpdatePaymentStatusResponseSchema, { accepted: toCommandAccepted(outcome) });
export const toShipOrderResponse = (outcome: CommandOutcome): ShipOrderResponse =>
  create(ShipOrderResponseSchema, { accepted: toCommandAccepted(outcome) });
export const toCancelOrderResponse = (outcome: CommandOutcome): CancelOrderResponse =>
  create(CancelOrderResponseSchema, { accepted: toCommandAccepted(outcome) });

/**
 * The idempotency claim: the key (checked against its limits first) and the hex sha-256 of the RPC name and the
 * request's canonical protobuf bytes (see request-hash.ts). "Same request" means the same RPC with the same fields,
 * from the same caller when auth is on: another caller's key is a reused key (refused), so nobody learns the outcome
 * of someone else's command by guessing its key. Without auth the hash is what it always was.
 */
function claim(rpc: string, key: string, encode: (writer: ProtoWriter) => void, call: CallContext): IdempotencyClaim {
  validateIdempotencyKey(key);
  const actor = actorOf(call);
  return { key, requestHash: requestHash(actor === undefined ? rpc : `${rpc} by ${actor}`, encode) };
}

const uuid = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** A UUID in any case becomes its canonical lower-case form: one order, one stream. */
function toOrderId(value: string): string {
  if (!uuid.test(value))
    throw new ValidationError("order_id", `must be a UUID, got ${JSON.stringify(value.slice(0, 64))}`);
  return value.toLowerCase();
}

const paymentStatuses: ReadonlyMap<ProtoPaymentStatus, PaymentStatus> = new Map([
  [ProtoPaymentStatus.PENDING, "pending"],
  [ProtoPaymentStatus.AUTHORIZED, "authorized"],
  [ProtoPaymentStatus.PAID, "paid"],
  [ProtoPaymentStatus.FAILED, "failed"],
  [ProtoPaymentStatus.REFUNDED, "refunded"],
]);

function toPaymentStatus(status: ProtoPaymentStatus): PaymentStatus {
  const mapped = paymentStatuses.get(status);
  if (mapped !== undefined) return mapped;
  if (status === ProtoPaymentStatus.UNSPECIFIED) {
    throw new ValidationError("status", "must be set (PAYMENT_STATUS_UNSPECIFIED is not a status)");
  }
  throw new ValidationError("status", `unknown payment status ${String(status)}`);
}

const maxSafe = BigInt(Number.MAX_SAFE_INTEGER);
const minSafe = BigInt(Number.MIN_SAFE_INTEGER);

const isSafe = (value: bigint) => value <= maxSafe && value >= minSafe;

function toSafeNumber(field: string, value: bigint): number {
  if (!isSafe(value)) {
    throw new ValidationError(field, "must be within ±(2^53 - 1)");
  }
  return Number(value);
}

function toExpectedVersion(value: bigint | undefined): number | undefined {
  if (value === undefined) return undefined;
  const version = toSafeNumber("expected_version", value);
  if (version < 0) throw new ValidationError("expected_version", "must not be negative");
  return version;
}

const traceparentFormat = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * Command metadata from the call: a fresh command id, correlation/causation ids from `x-correlation-id` /
 * `x-causation-id` when they are UUIDs (else the command id), the W3C `traceparent` (the call's span when tracing is
 * on, else the header when well-formed), and the time.
 */
function metadataOf(call: CallContext): CommandMetadata {
  const commandId = randomUUID();
  const correlation = call.headers["x-correlation-id"];
  const causation = call.headers["x-causation-id"];
  const traceparent = call.headers.traceparent;
  return {
    commandId,
    correlationId: correlation !== undefined && uuid.test(correlation) ? correlation.toLowerCase() : commandId,
    causationId: causation !== undefined && uuid.test(causation) ? causation.toLowerCase() : commandId,
    now: new Date(),
    // With tracing on, the events carry the handler's span, so the relay's and projectors' spans hang below it.
    traceparent:
      call.traceparent ?? (traceparent !== undefined && traceparentFormat.test(traceparent) ? traceparent : undefined),
    actor: actorOf(call),
  };
}
