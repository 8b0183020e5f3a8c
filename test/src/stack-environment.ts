import { dropCustomerOrders } from "@orderly/order-read-models/testing";
import { createTestEnvironment, type TestEnvironment, type TestServers } from "@orderly/testing";

/**
 * A test environment for a run whose services write `customer_orders` (projector-redis, a rebuild) in its namespace:
 * cleanup deletes the read model's keys through its own index, never by a SCAN of the shared Redis (which holds other
 * tenants' keys).
 */
export function stackEnvironment(servers: TestServers = {}): Promise<TestEnvironment> {
  return createTestEnvironment({ ...servers, dropRedis: [dropCustomerOrders] });
}
