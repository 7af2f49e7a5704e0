#!/usr/bin/env bash
# Installs the system packages mrredis needs on a fresh Debian machine:
# redis-server and redis-tools (members, redis-benchmark), zookeeper and a
# headless JRE (the private ZooKeeper of tests and `make run`), haproxy (the
# proxy benchmark's baseline) and chromium (the dashboard's browser tests).
# As root it installs what is missing; otherwise it prints the command.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have redis-server || need+=(redis-server)
have redis-benchmark || need+=(redis-tools)
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)
have java || need+=(default-jre-headless)
have haproxy || need+=(haproxy)
if [ "${MRR_SKIP_BROWSER:-}" != 1 ]; then
  have chromium || need+=(chromium)
fi

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "mrredis needs these Debian packages: ${need[*]}" >&2
  echo "install them with: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
  exit 1
fi

echo "installing ${need[*]} ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian's packages may start system-wide services; mrredis runs its own.
for svc in redis-server zookeeper haproxy; do
  service "$svc" stop >/dev/null 2>&1 || true
done
echo "installed ${need[*]}" >&2
