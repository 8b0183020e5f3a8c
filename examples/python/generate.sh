#!/usr/bin/env bash
# Stubs from the repo's .proto files with stock protoc and the gRPC Python plugin (Debian: protobuf-compiler,
# protobuf-compiler-grpc). Output in gen/ (git-ignored); nothing but the .proto files is needed.
set -euo pipefail
cd "$(dirname "$0")"
plugin="$(command -v grpc_python_plugin)"
rm -rf gen && mkdir -p gen
protoc -I ../../proto -I /usr/include \
  --python_out=gen --grpc_python_out=gen --plugin=protoc-gen-grpc_python="$plugin" \
  ../../proto/orderly/orders/v1/*.proto
echo "stubs in $(pwd)/gen"
