#!/usr/bin/env bash
# Regenerates the protobuf code and fails if that changes anything: generated code is never edited by hand.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
pnpm --filter @orderly/contracts run generate >/dev/null
if ! git diff --exit-code --stat -- packages/contracts/src/gen; then
  echo "generated code is out of date or was edited by hand: run 'pnpm generate' and commit" >&2
  exit 1
fi
if [ -n "$(git ls-files --others --exclude-standard packages/contracts/src/gen)" ]; then
  echo "generated files are not committed:" >&2
  git ls-files --others --exclude-standard packages/contracts/src/gen >&2
  exit 1
fi
echo "generated code is up to date"
