#!/bin/bash
# Self-test of uvpn-testbed: within a site nodes reach each other and their head; across sites nothing gets through
# unless --kernel-routes; cut/restore drop and mend the WAN silently; down leaves no namespace, process or state.
# Exit 77 (ctest SKIP_RETURN_CODE) when not root or a tool is missing.
set -u
TB=$(dirname "$(readlink -f "$0")")/uvpn-testbed
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for t in ip nsenter ping; do command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done

N=tbself$$
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
reach() { "$TB" exec "$N" "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
expect_reach() { if reach "$1" "$2"; then ok "$1 -> $2"; else bad "$1 -> $2 should work"; fi; }
expect_noreach() { if reach "$1" "$2"; then bad "$1 -> $2 should fail"; else ok "$1 -/-> $2"; fi; }
trap '"$TB" down "$N"' EXIT INT TERM

"$TB" up "$N" --sites 2 --nodes 2 || { echo "FAIL: up"; exit 1; }
eval "$("$TB" info "$N")"
[ "$S1_N2_IP" = 10.91.1.11 ] && [ "$S2_HEAD_WAN_IP" = 10.91.0.2 ] && ok info || bad "info: $S1_N2_IP $S2_HEAD_WAN_IP"
expect_reach s1-n1 "$S1_N2_IP"
expect_reach s1-n1 "$S1_HEAD_LAN_IP"
expect_reach s2-n2 "$S2_N1_IP"
expect_reach s1-head "$S2_HEAD_WAN_IP"
expect_noreach s1-n1 "$S2_N1_IP"
expect_noreach s1-n1 "$S2_HEAD_WAN_IP"
expect_noreach s1-n1 "$S1_HEAD_WAN_IP"  # no route beyond the LAN
[ -z "$("$TB" exec "$N" s1-n1 ip route show default)" ] && ok "no default route" || bad "node has a default route"
"$TB" cut "$N" s1 s2
expect_noreach s1-head "$S2_HEAD_WAN_IP"
"$TB" restore "$N" s1 s2
expect_reach s1-head "$S2_HEAD_WAN_IP"
"$TB" exec "$N" s1-n1 sleep 60 &
sleep 0.2
"$TB" down "$N"
"$TB" down "$N" || bad "second down failed"
wait
[ -z "$(ip netns list | grep "^$N-")" ] && ok "down removed namespaces" || bad "namespaces left: $(ip netns list)"
[ ! -e /run/uvpn-testbed/$N.env ] && ok "state removed" || bad "state file left"

"$TB" up "$N" --sites 3 --nodes 2 --kernel-routes || { echo "FAIL: up --kernel-routes"; exit 1; }
expect_reach s1-n1 10.91.2.11
expect_reach s3-n2 10.91.1.10
"$TB" cut "$N" 1 3
expect_noreach s1-n1 10.91.3.10
expect_reach s1-n1 10.91.2.10
"$TB" restore "$N" 1 3
expect_reach s1-n1 10.91.3.10
"$TB" down "$N"
[ -z "$(ip netns list | grep "^$N-")" ] && ok "down removed namespaces" || bad "namespaces left"

echo "$((fails == 0 ? 1 : 0)) passed, $fails failed"
[ $fails = 0 ]
