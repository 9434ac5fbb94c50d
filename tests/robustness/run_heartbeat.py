#!/usr/bin/python3
"""`uvpn run` keeps its lease while its command makes it forward signals often (label "robustness").

Theory of operation: a router (uvpn_router_testmain, heartbeat interval 1 s, so a lease ends after 3 s of
silence) listens on 127.0.0.1 at a free port; `uvpn run` registers with it and runs `sh`, which sends SIGUSR1 to
`uvpn run` every 0.3 s for 6 s (uvpn run forwards it back; the shell ignores it). A supervisor whose heartbeat
timer restarts on every wake-up never sends a heartbeat then, and the router ends the lease ("missed 3
heartbeats"), again and again. The test passes when the router log shows no lease ending before the command
exits and `uvpn run` never reports a lost lease. A second case sends nothing (the plain path) as a control.

Loopback only; bounded (about 15 s). Usage: run_heartbeat.py --uvpn BIN --shim LIB --router BIN. Exit = failures.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_env import FAILS, check, free_port  # noqa: E402  (shared with the hostile suite)


def run_case(args, tmp, label, script, seconds):
    port, peer_port = free_port("127.0.0.1"), free_port("127.0.0.1")
    routes = os.path.join(tmp, f"routes-{label}")
    with open(routes, "w") as f:
        f.write("uvpn-route 1\nsession hb1\nnetwork 100.97.0.0/16\n"
                f"site a subnet=100.97.1.0/24 peer=127.0.0.1:{peer_port} "
                f"node=127.0.0.1:{port}\n")
    log_path = os.path.join(tmp, f"router-{label}.log")
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    with open(log_path, "wb") as log:
        router = subprocess.Popen([args.router, "--routes", routes, "--site", "a", "--control",
                                   os.path.join(tmp, f"ctl-{label}.sock"), "--heartbeat-s", "1"],
                                  stdout=log, stderr=log, env=env)
    try:
        deadline = time.time() + 5
        while time.time() < deadline and not os.path.exists(os.path.join(tmp, f"ctl-{label}.sock")):
            time.sleep(0.02)
        t0 = time.time()
        cp = subprocess.run([args.uvpn, "run", "--routes", routes, "--site", "a", "--shim", args.shim, "--",
                             "sh", "-c", script], capture_output=True, timeout=seconds + 20, env=env)
        dt = time.time() - t0
    finally:
        router.send_signal(2)
        try:
            router.wait(10)
        except subprocess.TimeoutExpired:
            router.kill()
            router.wait()
    with open(log_path, errors="replace") as f:
        rlog = f.read()
    err = cp.stderr.decode(errors="replace")
    check(cp.returncode == 0, f"{label}: uvpn run exited {cp.returncode} after {dt:.1f}s")
    ended = rlog.count("missed 3 heartbeats")
    check(ended == 0, f"{label}: router ended the lease {ended} time(s) for missed heartbeats")
    check("lost the lease" not in err, f"{label}: uvpn run never lost its lease ({err.strip()[:300]!r})")
    for mark in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
        check(mark not in err and mark not in rlog, f"{label}: no '{mark}' in uvpn run's or the router's output")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--uvpn", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--router", required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="uvpn-run-hb-")
    run_case(args, tmp, "quiet", "sleep 5", 5)
    run_case(args, tmp, "signals",
             'trap "" USR1; i=0; while [ $i -lt 20 ]; do kill -USR1 $PPID; sleep 0.3; i=$((i+1)); done', 6)
    if FAILS:
        print(f"{len(FAILS)} FAILED; logs in {tmp}")
    else:
        print("all passed")
        subprocess.run(["rm", "-rf", tmp])
    return min(len(FAILS), 100)


if __name__ == "__main__":
    sys.exit(main())
