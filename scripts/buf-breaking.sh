#!/usr/bin/env bash
# buf breaking (FILE rules) against the previous commit of main. On the very first commit there is nothing to
# compare with, and a shallow clone may lack the parent: both are said, not hidden.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
against="${BUF_BREAKING_AGAINST:-HEAD~1}"
if ! git rev-parse --verify --quiet "${against}^{commit}" >/dev/null; then
  echo "buf breaking: no ${against} in this clone; nothing to compare with"
  exit 0
fi
if ! git cat-file -e "${against}:proto/buf.yaml" 2>/dev/null; then
  echo "buf breaking: ${against} has no proto/ module; nothing to compare with"
  exit 0
fi
exec pnpm exec buf breaking proto --against ".git#ref=$(git rev-parse "${against}"),subdir=proto"
