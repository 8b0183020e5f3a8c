import { expect } from "vitest";
import { type Accepted, createOrder, payOrder, type Stack } from "./stack.js";

// The read-your-writes checks the suites share: against the primary (read-your-writes.e2e.test.ts) and against a
// streaming replica (read-your-writes-replica.e2e.test.ts).

export interface Summary {
  order_id: string;
  customer_id: string;
  status: string;
  payment_status: string;
  currency: string;
  total_minor: string;
  paid_minor: string;
  item_count: number;
  version: string;
}
export interface Consistency {
  read_model: string;
  position: string;
  lag_seconds: number;
}
export interface SummaryResponse {
  summary: Summary;
  consistency: Consistency;
}
export interface ListResponse {
  orders: Summary[];
  next_page_token: string;
  consistency: Consistency;
}

/** GetOrderSummary with min_position (and the caller's deadline, if given). */
export function getSummary(stack: Stack, orderId: string, minPosition: string, deadlineMs?: number) {
  return stack.queries.unary<SummaryResponse>(
    "GetOrderSummary",
    { order_id: orderId, min_position: minPosition },
    deadlineMs === undefined ? {} : { deadlineMs },
  );
}

/** ListCustomerOrders with min_position, the default page size. */
export function listOrders(stack: Stack, customerId: string, minPosition: string, pageToken = "") {
  return stack.queries.unary<ListResponse>("ListCustomerOrders", {
    customer_id: customerId,
    page_size: 0,
    page_token: pageToken,
    min_position: minPosition,
  });
}

/**
 * CreateOrder → GetOrderSummary and ListCustomerOrders with its position → payment → both again: every read right the
 * first time. `readSummary` makes the first GetOrderSummary (a caller may time it).
 */
export async function expectReadYourWrites(
  stack: Stack,
  customerId: string,
  readSummary: (orderId: string, minPosition: string) => Promise<SummaryResponse> = (orderId, minPosition) =>
    getSummary(stack, orderId, minPosition),
): Promise<void> {
  const created = await createOrder(stack, customerId);

  const summary = await readSummary(created.order_id, created.position);
  expect(summary.summary).toMatchObject({
    order_id: created.order_id,
    customer_id: customerId,
    status: "ORDER_STATUS_PLACED",
    payment_status: "PAYMENT_STATUS_PENDING",
    total_minor: "2500",
    item_count: 2,
    version: "1",
  });
  expect(summary.consistency.read_model).toBe("order_summaries");
  expect(Number(summary.consistency.position)).toBeGreaterThanOrEqual(Number(created.position));

  const list = await listOrders(stack, customerId, created.position);
  expect(list.orders.map((o) => o.order_id)).toEqual([created.order_id]);
  expect(list.consistency.read_model).toBe("customer_orders");
  expect(Number(list.consistency.position)).toBeGreaterThanOrEqual(Number(created.position));

  const paid = await payOrder(stack, created.order_id, "2500");
  const after = await getSummary(stack, created.order_id, paid.position);
  expect(after.summary).toMatchObject({
    status: "ORDER_STATUS_PAID",
    payment_status: "PAYMENT_STATUS_PAID",
    paid_minor: "2500",
    version: "2",
  });
  const listAfter = await listOrders(stack, customerId, paid.position);
  expect(listAfter.orders[0]).toMatchObject({ payment_status: "PAYMENT_STATUS_PAID", version: "2" });
}

/**
 * 500 orders placed by 32 concurrent clients over `customers`, each read back at once with GetOrderSummary and
 * min_position; expects every read to show its order and item count. Returns what was accepted.
 */
export async function expectConcurrentReadBack(stack: Stack, customers: readonly string[]): Promise<Accepted[]> {
  const created: Accepted[] = [];
  const failures: unknown[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < 500) {
        const i = next++;
        const customerId = customers[i % customers.length] as string;
        try {
          const accepted = await createOrder(stack, customerId, [
            { sku: `SKU-${i}`, quantity: 1 + (i % 5), unit_price_minor: "100" },
          ]);
          created.push(accepted);
          const read = await getSummary(stack, accepted.order_id, accepted.position);
          if (read.summary.order_id !== accepted.order_id || read.summary.item_count !== 1 + (i % 5)) {
            failures.push({ i, read });
          }
        } catch (error) {
          failures.push({ i, error: String(error) });
        }
      }
    }),
  );
  expect(failures).toEqual([]);
  expect(created).toHaveLength(500);
  return created;
}
