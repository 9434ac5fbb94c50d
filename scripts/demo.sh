#!/bin/bash
# Demo: two private sites made of network namespaces, a uvpn router on each head node, and unmodified programs on
# compute nodes talking across the overlay (python http.server + curl, iperf3), then `uvpn status`. Cleans up
# everything it made, also when interrupted. Needs root: sudo scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (sudo scripts/demo.sh): it builds network namespaces" >&2; exit 1; }

# UVPN_BUILD_DIR: use an existing build instead of installing and building the release preset.
if [ -z "${UVPN_BUILD_DIR:-}" ]; then
  bash scripts/install-deps.sh
  bash scripts/build.sh release >/dev/null
fi
BUILD=${UVPN_BUILD_DIR:-$ROOT/build/release}
UVPN=$BUILD/bin/uvpn
SHIM=$BUILD/lib/libuvpn_shim.so
TB=$ROOT/tests/testbed/uvpn-testbed
NAME=demo$$
DIR=$(mktemp -d /tmp/uvpn-demo.XXXXXX)
PIDS=()

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.3
  "$TB" down "$NAME"
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
on() { local host=$1; shift; "$TB" exec "$NAME" "$host" "$@"; }
run_on() {  # HOST VIP -- CMD: a program on a compute node, under uvpn run
  local host=$1 vip=$2 site=${1%%-*}; shift 3
  on "$host" "$UVPN" run --routes "$DIR/.uvpn_route_$NAME" --site "$site" --vip "$vip" --shim "$SHIM" -- "$@"
}
wait_for() { local i; for i in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

say "Two sites: heads s1-head, s2-head on a WAN; compute nodes without any route off their LAN"
"$TB" up "$NAME" --sites 2 --nodes 2
"$TB" info "$NAME" | sed 's/^/  /'
echo "  s1-n1 -> 10.91.2.10 without uvpn:"
on s1-n1 ping -c1 -W1 10.91.2.10 2>&1 | sed 's/^/    /' || true

say "Route table (uvpn session new)"
"$UVPN" session new --id "$NAME" --dir "$DIR" \
  --site s1,peer=10.91.0.1:7700,node=10.91.1.1:7701 --site s2,peer=10.91.0.2:7700,node=10.91.2.1:7701 >/dev/null
sed 's/^/  /' "$DIR/.uvpn_route_$NAME"

say "Subnet routers on the heads (uvpn router)"
for k in 1 2; do
  on "s$k-head" "$UVPN" router --routes "$DIR/.uvpn_route_$NAME" --site "s$k" --control "$DIR/s$k.sock" \
    > "$DIR/router-s$k.log" 2>&1 &
  PIDS+=($!)
done
for k in 1 2; do wait_for "$UVPN" status --control "$DIR/s$k.sock" || { cat "$DIR/router-s$k.log"; exit 1; }; done
sleep 0.5

say "python3 -m http.server on s2-n1 (virtual 100.97.2.11), curl from s1-n1 (virtual 100.97.1.11)"
mkdir -p "$DIR/www" && echo "hello from site 2, through uvpn" > "$DIR/www/index.txt"
run_on s2-n1 100.97.2.11 -- python3 -m http.server 8080 --directory "$DIR/www" > "$DIR/http.log" 2>&1 &
PIDS+=($!)
wait_for on s2-n1 sh -c 'ss -Htln "sport = :8080" | grep -q .'
run_on s1-n1 100.97.1.11 -- curl -sS http://100.97.2.11:8080/index.txt | sed 's/^/  curl: /'
echo "  server log: $(tail -1 "$DIR/http.log")"

say "iperf3 from s1-n2 to s2-n2 through the overlay (3 s), and uvpn status of site s1 while it runs"
run_on s2-n2 100.97.2.12 -- iperf3 -s -p 5201 > "$DIR/iperf-server.log" 2>&1 &
PIDS+=($!)
wait_for on s2-n2 sh -c 'ss -Htln "sport = :5201" | grep -q .'
run_on s1-n2 100.97.1.12 -- iperf3 -c 100.97.2.12 -p 5201 -t 3 > "$DIR/iperf.log" 2>&1 &
iperf_pid=$!
sleep 1.5
"$UVPN" status --control "$DIR/s1.sock" | sed 's/^/  /'
wait "$iperf_pid" || echo "  (iperf3 exited $?)"
grep -E "sender|receiver" "$DIR/iperf.log" | sed 's/^/  /'

say "Done: cleaning up"
