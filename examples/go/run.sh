#!/usr/bin/env bash
# The Go example against a running stack (COMMAND_PORT, QUERY_PORT, NATS_URL, ORDERLY_NAMESPACE): generate stubs,
# build in GOPATH mode from Debian's packaged Go sources (/usr/share/gocode; no module download), run.
set -euo pipefail
cd "$(dirname "$0")"
./generate.sh >/dev/null
export GO111MODULE=off GOFLAGS= GOPATH="$(pwd)/.gopath:/usr/share/gocode" GOCACHE="${GOCACHE:-$(pwd)/.gopath/cache}"
go build -o .gopath/orderly-example .
exec .gopath/orderly-example
