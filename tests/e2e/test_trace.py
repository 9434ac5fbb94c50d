#!/usr/bin/python3
"""The ptrace monitor across the testbed's real routers (docs/trace.md): a statically linked C client and server
(tests/trace/netprog.c, built here with `cc -static`) on compute nodes of two sites, under `uvpn run` in auto mode
(which must pick ptrace for them and say so), under --mode ptrace-all, with a forking server and an exec chain;
blocking and non-blocking connects, refused ones; and curl (a dynamic program) under --mode ptrace against a
python http.server running under the preload library."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

REPO = h.REPO
NETPROG_SRC = os.path.join(REPO, "tests", "trace", "netprog.c")
PORT = 9300
CLOSED_PORT = 9


class TraceOverlay(h.Overlay):
    """An overlay whose `uvpn run` gets `--mode <self.mode>` (None: the default, auto)."""
    mode = None

    def _argv(self, host, argv, overlay, name, vip):
        full = super()._argv(host, argv, overlay, name, vip)
        if overlay and self.mode:
            i = full.index("run")
            full[i + 1:i + 1] = ["--mode", self.mode]
        return full


def fields(line):
    parts = line.split()
    d = {"_": parts[0] if parts else ""}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        d[k] = v
    return d


def build_netprog(ov):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise h.Skip("no C compiler")
    out = os.path.join(ov.dir, "netprog")
    subprocess.run([cc, "-static", "-O2", "-o", out, NETPROG_SRC, "-lpthread"], check=True, timeout=120)
    return out


def client(ov, prog, host, dst, port, how, extra=()):
    r = ov.call(host, [prog] + list(extra) + ["connect", dst, str(port), how], timeout=60)
    out = r.stdout.decode().strip().splitlines()
    assert r.returncode == 0 and out, f"client exited {r.returncode}: {r.stderr[-1500:]!r}"
    return fields(out[-1]), r.stderr.decode(errors="replace")


def accepted_lines(ov, label, count):
    path = ov.log_path(label)
    h.wait_until(lambda: sum(1 for ln in open(path, errors="replace") if ln.startswith("ACCEPT")) >= count, 15,
                 f"{count} ACCEPT lines in {label}")
    return [fields(ln) for ln in open(path, errors="replace") if ln.startswith("ACCEPT")]


def static_session(ov, prog, mode, fork):
    """Server on s2-n1 and clients on s1-n1, all under `mode` (None = auto)."""
    ov.mode = mode
    srv_vip, cli_vip = ov.vip_of("s2-n1"), ov.vip_of("s1-n1")
    label = f"server-{mode or 'auto'}-{'fork' if fork else 'plain'}"
    args = [prog, "serve", srv_vip, str(PORT), "3"] + (["fork"] if fork else [])
    srv = ov.run("s2-n1", args, label=label)
    ov.wait_listening("s2-n1", PORT, proc=srv)
    results = []
    for how, extra in (("block", ()), ("nonblock", ()), ("reconnect", ("exec", prog) if mode else ())):
        r, err = client(ov, prog, "s1-n1", srv_vip, PORT, how, extra)
        if mode is None:
            assert "statically linked: using --mode ptrace" in err, f"auto mode did not announce ptrace: {err!r}"
        assert (r["err"], r["echo"], r["peer"]) == ("OK", "ping", f"{srv_vip}:{PORT}"), (mode, how, r)
        assert r["local"].startswith(cli_vip + ":"), (mode, how, r)
        results.append(r)
    lines = accepted_lines(ov, label, 3)
    ports = {r["local"].split(":")[1] for r in results}
    for a in lines:
        assert a["addr"].startswith(cli_vip + ":") and a["addr"] == a["peer"], (mode, a)
        assert a["name"] == f"{srv_vip}:{PORT}", (mode, a)
        assert a["data"] == "ping", (mode, a)
        assert a["addr"].split(":")[1] in ports, (mode, a, ports)
    if fork:
        assert len({a["pid"] for a in lines}) == 3, lines
    assert ov.stop(srv) in (0, 143, -15), "server failed"
    # Refused needs a leased destination without a listener on the port (else the router says EHOSTUNREACH).
    holder = ov.run("s2-n1", ["sleep", "600"], label=f"lease-holder-{mode or 'auto'}")
    h.wait_until(lambda: any(n.get("vip") == srv_vip for n in ov.status_json("s1")["nodes"]), 10,
                 "site s1 to learn s2-n1's lease")
    for how in ("block", "nonblock", "reconnect"):
        r, _ = client(ov, prog, "s1-n1", srv_vip, CLOSED_PORT, how)
        assert r["err"] == "ECONNREFUSED", (mode, how, r)
    r, _ = client(ov, prog, "s1-n1", "100.97.2.200", 80, "block")
    assert r["err"] == "EHOSTUNREACH", (mode, r)
    ov.stop(holder)


def test_static_client_and_server():
    h.require_tools("cc")
    with TraceOverlay(tag="trace") as ov:
        prog = build_netprog(ov)
        static_session(ov, prog, None, fork=False)          # auto -> ptrace
        static_session(ov, prog, "ptrace", fork=True)       # forking server, exec chain
        static_session(ov, prog, "ptrace-all", fork=False)  # every syscall stops


def test_curl_under_ptrace():
    h.require_tools("curl")
    with TraceOverlay(tag="tracecurl") as ov:
        www = os.path.join(ov.dir, "www")
        os.makedirs(www)
        with open(os.path.join(www, "f.bin"), "wb") as f:
            f.write(os.urandom(2 * 1024 * 1024 + 3))
        srv = ov.run("s2-n1", [h.PYTHON, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", www],
                     label="http-server")
        ov.wait_listening("s2-n1", 8080, proc=srv)
        for mode in ("ptrace", "ptrace-all"):
            ov.mode = mode
            out = os.path.join(ov.dir, f"got-{mode}")
            r = ov.call("s1-n1", ["curl", "-sS", "--max-time", "30", "-o", out,
                                  f"http://{ov.vip_of('s2-n1')}:8080/f.bin"], timeout=60)
            assert r.returncode == 0, f"curl under {mode} exited {r.returncode}: {r.stderr!r}"
            assert h.sha256_file(out) == h.sha256_file(os.path.join(www, "f.bin")), f"file differs under {mode}"
        want = f"{ov.vip_of('s1-n1')} - - "
        h.wait_until(lambda: sum(1 for ln in open(ov.log_path("http-server"), errors="replace")
                                 if want in ln and "GET /f.bin" in ln) >= 2, 5,
                     "access log lines with the client's virtual address")


if __name__ == "__main__":
    h.main([test_static_client_and_server, test_curl_under_ptrace])
