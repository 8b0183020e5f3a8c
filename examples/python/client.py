"""Places an order and reads it back with read-your-writes: CommandAccepted.position as min_position.

Exits non-zero when anything differs from what Orderly promises. Prints the order id and position (one line of JSON)
for the consumer example.
"""
import json
import uuid

from orderly_example import (
    COMMAND_ADDR,
    QUERY_ADDR,
    channel,
    check,
    commands_pb2,
    commands_pb2_grpc,
    queries_pb2,
    queries_pb2_grpc,
    types_pb2,
)


def main() -> None:
    commands = commands_pb2_grpc.CommandServiceStub(channel(COMMAND_ADDR))
    queries = queries_pb2_grpc.QueryServiceStub(channel(QUERY_ADDR))
    customer = f"py-{uuid.uuid4().hex[:12]}"
    request = commands_pb2.CreateOrderRequest(
        idempotency_key=f"py-example-{uuid.uuid4()}",
        customer_id=customer,
        currency="EUR",
        items=[types_pb2.LineItem(sku="book", quantity=2, unit_price_minor=1250)],
    )
    accepted = commands.CreateOrder(request, timeout=10).accepted
    check(accepted.position > 0 and accepted.stream_version == 1, f"unexpected CommandAccepted {accepted}")
    # A retry with the same key is the same command: same order, same position, marked duplicate.
    again = commands.CreateOrder(request, timeout=10).accepted
    check(again.duplicate and again.order_id == accepted.order_id and again.position == accepted.position,
          f"retry was not deduplicated: {again}")

    # Read-your-writes: the query waits until the read model has applied the command's position.
    summary = queries.GetOrderSummary(
        queries_pb2.GetOrderSummaryRequest(order_id=accepted.order_id, min_position=accepted.position), timeout=10
    )
    check(summary.summary.order_id == accepted.order_id, f"wrong order {summary.summary.order_id}")
    check(summary.summary.status == types_pb2.ORDER_STATUS_PLACED, f"status {summary.summary.status}")
    check(summary.summary.total_minor == 2500, f"total {summary.summary.total_minor}")
    check(summary.consistency.position >= accepted.position, f"read model behind: {summary.consistency}")
    listed = queries.ListCustomerOrders(
        queries_pb2.ListCustomerOrdersRequest(customer_id=customer, min_position=accepted.position), timeout=10
    )
    check([o.order_id for o in listed.orders] == [accepted.order_id], f"customer orders {listed.orders}")
    print(json.dumps({"order_id": accepted.order_id, "position": accepted.position, "customer_id": customer}))


if __name__ == "__main__":
    main()
