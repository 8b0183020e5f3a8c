"""Follows SubscribeEvents from a saved position: catch-up from the store, then live.

Usage: consumer.py <state-file> <order-id> [<order-id> ...]
Reads the position saved in <state-file> (0 when missing), handles events until it has seen an OrderPlaced of every
given order, saves the last position handled, and checks what Orderly promises: positions strictly consecutive (no
gap, no duplicate), the first one right after the saved position. Event types this stub does not know are skipped
and counted, never fatal.
"""
import json
import os
import sys

import grpc

from orderly_example import QUERY_ADDR, channel, check, event_service_pb2, event_service_pb2_grpc


def main() -> None:
    state_file, wanted = sys.argv[1], set(sys.argv[2:])
    check(bool(wanted), "give at least one order id")
    saved = int(open(state_file).read()) if os.path.exists(state_file) else 0
    events = event_service_pb2_grpc.EventServiceStub(channel(QUERY_ADDR))
    stream = events.SubscribeEvents(event_service_pb2.SubscribeEventsRequest(from_position=saved), timeout=30)
    last, handled, skipped, by_type = saved, 0, 0, {}
    try:
        for response in stream:
            event = response.event
            check(event.position == last + 1, f"expected position {last + 1}, got {event.position}")
            if event.WhichOneof("event") is None:
                skipped += 1  # a type newer than these stubs: skip it, count it, move on
            else:
                by_type[event.event_type] = by_type.get(event.event_type, 0) + 1
                check(event.event_schema_version >= 1, f"event_schema_version {event.event_schema_version}")
                if event.WhichOneof("event") == "order_placed":
                    check(event.order_placed.order_id == event.order_id, "order id mismatch")
                    wanted.discard(event.order_id)
            last = event.position
            handled += 1
            if not wanted:
                break
    finally:
        stream.cancel()
    with open(state_file, "w") as f:
        f.write(str(last))
    print(json.dumps({"from": saved, "last": last, "handled": handled, "skipped_unknown": skipped, "by_type": by_type}))


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as error:
        print(f"SubscribeEvents failed: {error.code().name}: {error.details()}", file=sys.stderr)
        sys.exit(1)
