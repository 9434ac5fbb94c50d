#!/bin/sh
# Model-checks tests/model/resume.pml (the outage-recovery handshake, docs/outage.md) with spin.
#
# Theory of operation: each check generates the verifier (spin -a with -D options choosing the model's bounds and
# variant), compiles pan.c with gcc and runs it in a private temporary directory; a check passes when pan reports
# "errors: 0". Exit 0 = all required checks passed, 1 = a check failed (the pan output is printed), 77 = spin or
# gcc missing (ctest counts it as skipped). Memory is capped (ulimit -v) so a state explosion cannot take the host.
#
# Checks (bounds: N=2 bytes each way, ring of 1 byte, C cuts, MAXG leg-1 connections):
#   1. design, safety: every assertion (no loss, no duplication, order, EOF only at the end, counters in bounds)
#      over all interleavings with one cut; invalid end states ignored (-E, see 3).
#   2. LEG_LOST tagged with the lost leg (-DLEGID), the protocol uvpn implements (docs/protocol.md section 10):
#      safety and liveness (ltl live: the relay always ends).
#   3. the first design, liveness: reported, not required (UVPN_SPIN_STRICT=1 makes it required): a LEG_LOST
#      without a leg number lets a late report about an old leg kill the new one, forever -- the flaw that led to
#      leg numbers (header of resume.pml; the trail is printed).
# UVPN_SPIN_FULL=1 runs check 2 with two cuts and six connections (~6 M states, ~1 min, ~0.8 GB).
# Usage: run_spin.sh [path/to/resume.pml]
set -u
model=${1:-$(dirname "$0")/resume.pml}
command -v spin >/dev/null 2>&1 || { echo "spin not installed: skipped (apt-get install spin)"; exit 77; }
command -v gcc >/dev/null 2>&1 || { echo "gcc not installed: skipped"; exit 77; }
[ -r "$model" ] || { echo "no model $model"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/uvpn_spin.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
cp "$model" "$work/resume.pml"
cd "$work" || exit 1
ulimit -v 4000000 2>/dev/null

# check NAME SPIN_DEFS GCC_DEFS PAN_ARGS -> 0 if pan reports errors: 0
check() {
  name=$1; sdefs=$2; cdefs=$3; pargs=$4
  rm -f pan pan.* _spin_nvr.tmp ./*.trail
  if ! spin -a $sdefs resume.pml >spin.out 2>&1; then cat spin.out; echo "FAIL $name: spin -a"; return 1; fi
  if ! gcc -O2 -w -DVECTORSZ=2048 -DCOLLAPSE $cdefs -o pan pan.c >gcc.out 2>&1; then
    cat gcc.out; echo "FAIL $name: gcc"; return 1
  fi
  start=$(date +%s)
  ./pan $pargs -m1000000 >pan.out 2>&1
  secs=$(( $(date +%s) - start ))
  states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.out)
  if grep -q "errors: 0" pan.out; then
    echo "ok   $name: $states states, ${secs}s"
    return 0
  fi
  echo "FAIL $name: $states states, ${secs}s"
  grep -E "violated|cycle|invalid end|error" pan.out | head -5
  if ls ./*.trail >/dev/null 2>&1; then
    echo "--- trail (last steps) ---"
    spin -t -p $sdefs resume.pml 2>&1 | grep "proc  0" | tail -25
  fi
  return 1
}

rc=0
check "design safety (1 cut)" "-DC=1 -DMAXG=4" "-DNOCLAIM" "-E" || rc=1
if [ "${UVPN_SPIN_FULL:-0}" = 1 ]; then
  check "LEG_LOST with leg id: safety + liveness (2 cuts)" "-DC=2 -DMAXG=6 -DLEGID" "" "-a" || rc=1
else
  check "LEG_LOST with leg id: safety + liveness (1 cut)" "-DC=1 -DMAXG=4 -DLEGID" "" "-a" || rc=1
fi
if check "design liveness (1 cut)" "-DC=1 -DMAXG=4" "" "-a"; then
  :
elif [ "${UVPN_SPIN_STRICT:-0}" = 1 ]; then
  rc=1
else
  echo "note: design liveness fails (known: LEG_LOST without a leg identity); not counted"
fi
exit $rc
