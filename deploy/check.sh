#!/usr/bin/env bash
# Validates the deploy files with what runs here (`make deploy-check`, part of `make test`):
#   - the systemd unit: `systemd-analyze verify` (any warning fails, e.g. a misspelt key);
#   - the Kubernetes manifests: kubernetes-validate (PyPI) against the API's JSON schemas,
#     strict (unknown fields fail), installed once into a git-ignored virtualenv;
#   - the ClickHouse config files: well-formed XML with a <clickhouse> root;
#   - the Grafana dashboard: JSON with panels, every series it queries defined in collector/src;
#   - the nginx front: `nginx -t` with it included (Debian's nginx-light, installed when missing
#     and running as root; skipped with a message otherwise).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# systemd: the unit as shipped, its binary path pointed at a file that exists here.
if command -v systemd-analyze >/dev/null; then
  sed "s#^ExecStart=/usr/local/bin/candor#ExecStart=$(command -v true)#" \
    "$root/deploy/systemd/candor.service" > "$work/candor.service"
  out="$(systemd-analyze verify "$work/candor.service" 2>&1)" || { echo "$out"; exit 1; }
  if [ -n "$out" ]; then echo "systemd-analyze: $out"; exit 1; fi
  echo "systemd unit: ok"
else
  echo "systemd unit: systemd-analyze not found, not checked"
fi

# Kubernetes.
venv="$root/.cache/deploy-check-venv"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "kubernetes-validate==1.37.0"
fi
"$venv/bin/kubernetes-validate" --strict --quiet "$root"/deploy/kubernetes/*.yaml
echo "kubernetes manifests: ok"

# docker-compose: parses, and its mounts point at files that exist (no Compose CLI here).
"$venv/bin/python" - "$root/deploy/docker-compose.yml" <<'PY'
import os, sys, yaml
path = sys.argv[1]
doc = yaml.safe_load(open(path))
assert {"clickhouse", "candor"} <= set(doc["services"]), "services clickhouse and candor"
for name, service in doc["services"].items():
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("."):
            full = os.path.join(os.path.dirname(path), source)
            assert os.path.exists(full), f"{name}: {source} does not exist"
print("docker-compose: ok")
PY

# ClickHouse XML.
python3 - "$root"/deploy/clickhouse/*/*.xml <<'PY'
import sys, xml.etree.ElementTree as ET
for path in sys.argv[1:]:
    root = ET.parse(path).getroot()
    assert root.tag == "clickhouse", f"{path}: root is <{root.tag}>, not <clickhouse>"
print("clickhouse config: ok")
PY

# Grafana: the dashboard is JSON Grafana can import (panels with Prometheus queries), and every
# series it asks for is one collector/src defines (the metric's name as a string literal, or
# the process collector's series); collector/tests/observability.rs checks the same against
# a running collector's /metrics.
python3 - "$root/deploy/grafana/candor.json" "$root/collector/src" <<'PY'
import json, os, re, sys
path, src = sys.argv[1], sys.argv[2]
dash = json.load(open(path))
assert dash.get("title") and dash.get("uid"), f"{path}: title and uid"
panels = dash["panels"]
assert panels, f"{path}: no panels"
code = ""
for d, _, files in os.walk(src):
    for f in files:
        if f.endswith(".rs"):
            code += open(os.path.join(d, f)).read()
names = set()
for p in panels:
    assert p.get("targets"), f"panel {p.get('title')!r} has no queries"
    for t in p["targets"]:
        names.update(re.findall(r"candor_([a-z_]+)", t["expr"]))
missing = []
for n in sorted(names):
    base = re.sub(r"_(bucket|sum|count)$", "", n)
    if f'"{n}"' in code or f'"{base}"' in code:
        continue
    if n.startswith("process_") and "ProcessCollector" in code:
        continue
    missing.append("candor_" + n)
assert not missing, f"{path}: series not defined in collector/src: {missing}"
print(f"grafana dashboard: ok ({len(panels)} panels, {len(names)} series)")
PY

# nginx.
if ! command -v nginx >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi
if command -v nginx >/dev/null; then
  mkdir -p "$work/nginx/logs"
  cat > "$work/nginx/nginx.conf" <<CONF
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events {}
http {
  access_log off;
  include $root/deploy/nginx/candor.conf;
}
CONF
  nginx -t -q -p "$work/nginx" -c "$work/nginx/nginx.conf"
  echo "nginx front: ok"
else
  echo "nginx front: nginx not installed (not root), not checked"
fi
