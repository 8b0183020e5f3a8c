/** The input limits of the CommandService contract (issue 3); the proto comments state the same numbers. */
export const limits = {
  idempotencyKey: { min: 1, max: 128 },
  customerId: { min: 1, max: 128 },
  sku: { min: 1, max: 64 },
  /** carrier, tracking_number, reason, payment_reference */
  freeText: { max: 256 },
  items: { min: 1, max: 100 },
  quantity: { min: 1, max: 10_000 },
  unitPriceMinor: { min: 0 },
} as const;
