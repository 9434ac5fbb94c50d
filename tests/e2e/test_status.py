#!/usr/bin/python3
"""`uvpn status --json` (and the text form) list the nodes, the links and the open relays with byte counts."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PROGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netprogs.py")


def test_status_json():
    with h.Overlay(tag="status") as ov:
        echo = ov.run("s2-n1", [h.PYTHON, "-u", PROGS, "aserver", "9000"], label="echo")
        ov.wait_listening("s2-n1", 9000, proc=echo)
        ov.run("s1-n1", [h.PYTHON, "-u", PROGS, "hold", ov.vip_of("s2-n1"), "9000", "30"], label="hold")
        h.wait_until(lambda: "HOLDING" in open(ov.log_path("hold"), errors="replace").read(), 20, "held connection")
        a, b = ov.vip_of("s1-n1"), ov.vip_of("s2-n1")
        for site, other in (("s1", "s2"), ("s2", "s1")):
            st = ov.status_json(site)
            assert st["site"] == site, st
            assert st["session"] == ov.session, st
            links = st["links"]
            assert any(ln["site"] == other and ln["up"] is True for ln in links), f"{site} links: {links}"
            # The session has a secret, so the link ran the Noise handshake (docs/security.md).
            assert all(ln["security"].startswith("noise+") for ln in links), f"{site} links: {links}"
            vips = {n["vip"]: n for n in st["nodes"]}
            assert a in vips and b in vips, f"{site} nodes: {st['nodes']}"
            local = a if site == "s1" else b
            assert vips[local]["local"] is True and vips[local]["site"] == site, vips[local]
            relays = st["relays"]
            mine = [r for r in relays if str(r["src"]).startswith(a + ":") and str(r["dst"]) == f"{b}:9000"]
            assert mine, f"{site} relays: {relays}"
            # 64 KiB went each way before HOLDING was printed.
            assert mine[0]["bytes_fwd"] >= 65536 and mine[0]["bytes_rev"] >= 65536, mine[0]
            print(f"  {site}: {len(links)} link(s), {len(vips)} node(s), relay {mine[0]}")
        text = ov.status_text("s1")
        assert a in text and b in text, f"text status: {text}"
        assert "noise+" in text, f"text status names no link security: {text}"
        # Leg pool (docs/performance.md): after the first cross-site connection dialled its leg 1, s1 keeps legs
        # ready, and the next connections (each made before the pool's age limit) take them.
        for i in range(3):
            r = ov.call("s1-n1", [h.PYTHON, PROGS, "aclient", b, "9000"], timeout=30)
            assert r.returncode == 0 and r.stdout.decode().startswith("OK"), (i, r.stdout, r.stderr[-800:])
        link = next(ln for ln in ov.status_json("s1")["links"] if ln["site"] == "s2")
        assert link["legs_dialled"] >= 1 and link["legs_pooled"] >= 1, link
        assert link["legs_pooled"] + link["legs_dialled"] >= 4, link


if __name__ == "__main__":
    h.main([test_status_json])
