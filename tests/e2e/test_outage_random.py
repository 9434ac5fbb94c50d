#!/usr/bin/python3
"""Randomized WAN outages (docs/outage.md, issue 4): 100 concurrent checksummed streams between compute nodes of
two sites ride out >= 50 cuts of random length while they run; at the end every stream must be complete and exact
in both directions (no loss, no duplicate, no reordering, no error).

Theory of operation:
  A schedule is drawn from a seeded RNG (printed; UVPN_SEED=N replays it): 50 cuts whose durations are
  log-uniform in [0.5 s, 10 s] (mean ~3.2 s, so the run stays near 3-4 minutes), each a testbed blackhole
  (silent drop both ways), a `uvpn chaos cut --for` on either router, or a `uvpn chaos cut` ended by an explicit
  `uvpn chaos restore`; about one in five is followed by a `uvpn chaos reset` (RST of the link and every leg 1).
  Gaps between events are short (0.2-1.5 s), so a cut often lands while the relays are still resuming from the
  previous one. The streams (streamcheck, 20 KB/s each way each) are sized to outlast the schedule. Afterwards the
  links must come back, every stream must end exact, and the routers must still be running; their `recovery`
  counters are printed.
"""
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_outage as to  # noqa: E402

N_STREAMS = 100
N_CUTS = 50
RATE = 20_000


def schedule(rng):
    """[(kind, site, other, seconds, gap_after)]; kind in blackhole, chaos-for, chaos-restore, reset."""
    events = []
    for _ in range(N_CUTS):
        secs = round(math.exp(rng.uniform(math.log(0.5), math.log(10))), 2)
        kind = rng.choices(["blackhole", "chaos-for", "chaos-restore"], [0.4, 0.35, 0.25])[0]
        a, b = rng.choice([("s1", "s2"), ("s2", "s1")])
        events.append((kind, a, b, secs, round(rng.uniform(0.2, 1.5), 2)))
        if rng.random() < 0.2:
            a, b = rng.choice([("s1", "s2"), ("s2", "s1")])
            events.append(("reset", a, b, 0, round(rng.uniform(0.2, 1.5), 2)))
    return events


def apply(ov, ev):
    kind, a, b, secs, gap = ev
    if kind == "blackhole":
        ov.cut(a, b)
        time.sleep(secs)
        ov.restore(a, b)
    elif kind == "chaos-for":
        ov.chaos(a, "cut", b, "--for", f"{secs:g}")
        time.sleep(secs)
    elif kind == "chaos-restore":
        ov.chaos(a, "cut", b)
        time.sleep(secs)
        ov.chaos(a, "restore", b)
    elif kind == "reset":
        ov.chaos(a, "reset", b)
    time.sleep(gap)


def test_random_cuts():
    seed = int(os.environ.get("UVPN_SEED") or int(time.time() * 1000) % 1_000_000)
    print(f"  seed {seed} (replay with UVPN_SEED={seed})", flush=True)
    rng = random.Random(seed)
    events = schedule(rng)
    span = sum(e[3] + e[4] for e in events)
    n_cuts = sum(1 for e in events if e[0] != "reset")
    print(f"  {n_cuts} cuts + {len(events) - n_cuts} resets, {sum(e[3] for e in events):.0f}s cut, "
          f"schedule {span:.0f}s", flush=True)
    with h.Overlay(tag="out-rand") as ov:
        stream_secs = int(span) + 15
        streams = to.Streams(ov, N_STREAMS, RATE * stream_secs, RATE, timeout=stream_secs + 150)
        time.sleep(5)
        t0 = time.time()
        for i, ev in enumerate(events):
            apply(ov, ev)
            assert ov.router_alive("s1") and ov.router_alive("s2"), f"a router died during event {i} {ev}"
            if i % 10 == 9:
                print(f"  {i + 1} events done at +{time.time() - t0:.0f}s", flush=True)
        to.wait_links(ov, timeout=30)
        streams.check_ok()
        assert ov.router_alive("s1") and ov.router_alive("s2"), "a router died"
        for s in ("s1", "s2"):
            print(f"  recovery {s}: {to.recovery(ov, s, required=False)}")


if __name__ == "__main__":
    h.main([test_random_cuts])
