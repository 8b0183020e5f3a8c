#!/usr/bin/env bash
# The Python example end to end against a running stack (COMMAND_PORT / QUERY_PORT, default 50051 / 50052):
# generate stubs, place two orders with read-your-writes, then follow the event log from a saved position twice —
# the second run resumes exactly where the first stopped. Uses Debian's python3 (its grpc and protobuf modules).
set -euo pipefail
cd "$(dirname "$0")"
py=/usr/bin/python3
./generate.sh >/dev/null
state="$(mktemp -d)"
trap 'rm -rf "$state"' EXIT
first=$($py client.py)
first_id=$($py -c 'import json,sys; print(json.load(sys.stdin)["order_id"])' <<<"$first")
first_pos=$($py -c 'import json,sys; print(json.load(sys.stdin)["position"])' <<<"$first")
# Start one before the order: the consumer must see it first.
echo $((first_pos - 1)) > "$state/position"
run1=$($py consumer.py "$state/position" "$first_id")
echo "consumer run 1: $run1"
second=$($py client.py)
second_id=$($py -c 'import json,sys; print(json.load(sys.stdin)["order_id"])' <<<"$second")
run2=$($py consumer.py "$state/position" "$second_id")
echo "consumer run 2: $run2"
$py - "$run1" "$run2" "$first_pos" <<'PY'
import json, sys
run1, run2, first_pos = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
assert run1["from"] == first_pos - 1 and run1["last"] >= first_pos, run1
assert run2["from"] == run1["last"], (run1, run2)
assert run2["last"] > run1["last"], run2
print("python example: OK")
PY
