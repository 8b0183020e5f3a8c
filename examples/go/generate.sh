#!/usr/bin/env bash
# Go stubs from the repo's .proto files with stock protoc, Debian's protoc-gen-go (1.28) and protoc-gen-go-grpc, into
# a GOPATH of our own (.gopath/, git-ignored). Debian 12 packages only, no module download.
#
# One wrinkle: golang-github-nats-io-go-nats-dev depends on golang-goprotobuf-dev, which conflicts with the
# protoc-gen-go package (its own generator is 1.3, too old for proto3 `optional`). So with the NATS sources installed,
# protoc-gen-go is taken from its .deb (`apt-get download`, unpacked here) unless a protoc-gen-go >= 1.20 is on PATH.
set -euo pipefail
cd "$(dirname "$0")"
tools="$(pwd)/.gopath/tools"
out=.gopath/src/orderly.example/orderlypb
rm -rf .gopath/src && mkdir -p "$out" "$tools"
gen_go="$(command -v protoc-gen-go || true)"
if [ -z "$gen_go" ] || ! "$gen_go" --version </dev/null 2>/dev/null | grep -qE 'v1\.(2[0-9]|[3-9][0-9])'; then
  if [ ! -x "$tools/usr/bin/protoc-gen-go" ]; then
    (cd "$tools" && apt-get download protoc-gen-go >/dev/null 2>&1 && dpkg -x protoc-gen-go_*.deb . && rm -f ./*.deb)
  fi
  gen_go="$tools/usr/bin/protoc-gen-go"
fi
map=""
for f in ../../proto/orderly/orders/v1/*.proto; do map="${map}Morderly/orders/v1/$(basename "$f")=orderly.example/orderlypb;orderlypb,"; done
protoc -I ../../proto -I /usr/include --plugin=protoc-gen-go="$gen_go" \
  --go_out="${map}paths=source_relative:$out" --go-grpc_out="${map}paths=source_relative:$out" \
  ../../proto/orderly/orders/v1/*.proto
mv "$out"/orderly/orders/v1/*.go "$out"/ && rm -rf "$out"/orderly
echo "stubs in $(pwd)/$out"
