import { isCanonicalUuid, ValidationError } from "@orderly/eventsourcing";
import type { CancelOrder, CreateOrder, OrderCommand, ShipOrder, UpdatePaymentStatus } from "./commands.js";
import { limits } from "./limits.js";
import { paymentStatuses } from "./status.js";

// Every check throws ValidationError (INVALID_ARGUMENT) naming the proto field, e.g. `items[2].quantity`.

const controlCharacter = /\p{Cc}/u;
const currencyCode = /^[A-Z]{3}$/;

/** Length in characters (Unicode code points), not UTF-16 units. */
function characterCount(value: string): number {
  let count = 0;
  for (const _ of value) count++;
  return count;
}

/** What is wrong with a text field, or undefined. (Problems, not errors: an item's field name is built only on failure.) */
function textProblem(value: string, min: number, max: number): string | undefined {
  if (value.length < min) return min === 1 ? "must not be empty" : `must have at least ${min} characters`;
  // A string has at least as many UTF-16 units as characters: count characters only when it could be too long.
  if (value.length > max && characterCount(value) > max) return `must have at most ${max} characters`;
  if (controlCharacter.test(value)) return "must not contain control characters";
  return undefined;
}

function integerProblem(value: number, min: number, max: number = Number.MAX_SAFE_INTEGER): string | undefined {
  if (!Number.isSafeInteger(value)) return "must be an integer below 2^53";
  if (value < min) return `must be at least ${min}`;
  if (value > max) return `must be at most ${max}`;
  return undefined;
}

function checkText(field: string, value: string, min: number, max: number): void {
  const problem = textProblem(value, min, max);
  if (problem !== undefined) throw new ValidationError(field, problem);
}

function checkInteger(field: string, value: number, min: number, max?: number): void {
  const problem = integerProblem(value, min, max);
  if (problem !== undefined) throw new ValidationError(field, problem);
}

export function validateIdempotencyKey(key: string): void {
  checkText("idempotency_key", key, limits.idempotencyKey.min, limits.idempotencyKey.max);
}

/** Order ids are UUIDs in their canonical lower-case form (the edge lower-cases them), so one order has one stream. */
export function validateOrderId(orderId: string): void {
  if (!isCanonicalUuid(orderId)) throw new ValidationError("order_id", "must be a UUID");
}

function validateCreateOrder({ data }: CreateOrder): void {
  validateOrderId(data.orderId);
  checkText("customer_id", data.customerId, limits.customerId.min, limits.customerId.max);
  if (!currencyCode.test(data.currency)) {
    throw new ValidationError("currency", "must be three upper-case letters (ISO 4217)");
  }
  if (data.items.length < limits.items.min) throw new ValidationError("items", "an order needs at least one item");
  if (data.items.length > limits.items.max) {
    throw new ValidationError("items", `an order has at most ${limits.items.max} items`);
  }
  let total = 0;
  data.items.forEach((item, i) => {
    let problem = textProblem(item.sku, limits.sku.min, limits.sku.max);
    if (problem !== undefined) throw new ValidationError(`items[${i}].sku`, problem);
    problem = integerProblem(item.quantity, limits.quantity.min, limits.quantity.max);
    if (problem !== undefined) throw new ValidationError(`items[${i}].quantity`, problem);
    problem = integerProblem(item.unitPriceMinor, limits.unitPriceMinor.min);
    if (problem !== undefined) throw new ValidationError(`items[${i}].unit_price_minor`, problem);
    total += item.quantity * item.unitPriceMinor;
  });
  if (!Number.isSafeInteger(total)) throw new ValidationError("items", "the order total must be below 2^53");
}

function validateUpdatePaymentStatus({ data }: UpdatePaymentStatus): void {
  validateOrderId(data.orderId);
  if (!paymentStatuses.includes(data.status)) throw new ValidationError("status", "unknown payment status");
  checkInteger("amount_minor", data.amountMinor, 0);
  checkText("payment_reference", data.paymentReference, 0, limits.freeText.max);
}

function validateShipOrder({ data }: ShipOrder): void {
  validateOrderId(data.orderId);
  checkText("carrier", data.carrier, 0, limits.freeText.max);
  checkText("tracking_number", data.trackingNumber, 0, limits.freeText.max);
}

function validateCancelOrder({ data }: CancelOrder): void {
  validateOrderId(data.orderId);
  checkText("reason", data.reason, 0, limits.freeText.max);
}

/** Checks every input limit of a command; throws the first ValidationError. */
export function validateCommand(command: OrderCommand): void {
  switch (command.type) {
    case "CreateOrder":
      validateCreateOrder(command);
      return;
    case "UpdatePaymentStatus":
      validateUpdatePaymentStatus(command);
      return;
    case "ShipOrder":
      validateShipOrder(command);
      return;
    case "CancelOrder":
      validateCancelOrder(command);
      return;
    default: {
      const unknown: never = command;
      throw new ValidationError("command", `unknown command ${(unknown as { type: string }).type}`);
    }
  }
}
