#!/usr/bin/python3
"""Overlay host names and the virtual interface (docs/shim.md "Host names", "Virtual interface"), across sites:
- `hostname`, `getent hosts NAME` and `getent hosts VIP` agree on every node, given names and a derived one
  (getent uses gethostbyname2 / gethostbyaddr), and `uvpn resolve` answers the same;
- `curl http://NAME:PORT/` and `ssh NAME` reach a node of the other site by its overlay name, and `hostname`
  under `uvpn run` in the remote session is that name;
- a C program (tests/shim/names_probe.c, built here with cc) sees `uvpn0` with the node's VIP in getifaddrs and
  SIOCGIFCONF, next to the real interface."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_ssh  # noqa: E402  (setup_sshd, ssh_opts)

PROGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netprogs.py")
PROBE_SRC = os.path.join(h.REPO, "tests", "shim", "names_probe.c")
NAMES = {"s1-n1": "alpha1", "s2-n1": "beta1.cluster"}  # s2-n2 gets the derived name


def hold_leases(ov, hosts):
    """Keeps a lease per host (a `sleep` under `uvpn run`), with the names of NAMES; returns host -> name."""
    for host in hosts:
        ov.run(host, ["sleep", "600"], name=NAMES.get(host), label=f"hold-{host}")
    names = {}
    for host in hosts:
        def registered(host=host):
            r = ov.call(host, ["hostname"], timeout=20)
            return r.stdout.decode().strip() if r.returncode == 0 else None
        names[host] = h.wait_until(registered, 20, f"hostname under uvpn run on {host}")
    return names


def getent(ov, host, key):
    r = ov.call(host, ["getent", "hosts", key], timeout=20)
    assert r.returncode == 0, f"getent hosts {key} on {host} exited {r.returncode}: {r.stderr!r}"
    fields = r.stdout.decode().split()
    return fields[0], fields[1]


def test_forward_reverse_self_agree():
    h.require_tools("getent", "hostname")
    with h.Overlay(tag="names") as ov:
        hosts = ["s1-n1", "s2-n1", "s2-n2"]
        names = hold_leases(ov, hosts)
        assert names["s1-n1"] == "alpha1" and names["s2-n1"] == "beta1.cluster", names
        assert names["s2-n2"] == "s2-12", f"derived name {names['s2-n2']!r}"  # <site>-<host part of the VIP>
        for host in hosts:
            vip, name = ov.vip_of(host), names[host]
            r = ov.call(host, ["uname", "-n"], timeout=20)
            assert r.stdout.decode().strip() == name, f"uname -n on {host}: {r.stdout!r}"
            for asker in hosts:  # every node, both sites, itself included
                assert getent(ov, asker, name) == (vip, name), f"{asker}: getent hosts {name}"
                assert getent(ov, asker, vip) == (vip, name), f"{asker}: getent hosts {vip}"
            print(f"  {host}: {name} = {vip} everywhere")
        # Case-insensitive, canonical answer; an unleased VIP is not found (without any DNS query).
        assert getent(ov, "s1-n1", "BETA1.Cluster") == (ov.vip_of("s2-n1"), "beta1.cluster")
        r = ov.call("s1-n1", ["getent", "hosts", "100.97.2.99"], timeout=20)
        assert r.returncode == 2 and r.stdout == b"", f"unleased VIP: {r.returncode} {r.stdout!r}"
        # uvpn resolve, run without the shim on a node, asks the home router the same questions.
        for argv, want in ((["beta1.cluster"], f"{ov.vip_of('s2-n1')} beta1.cluster"),
                           ([ov.vip_of("s1-n1")], f"{ov.vip_of('s1-n1')} alpha1")):
            r = ov.call("s1-n2", [h.uvpn_bin(), "resolve", "--routes", ov.routes, "--site", "s1"] + argv,
                        overlay=False, timeout=20)
            assert r.returncode == 0 and r.stdout.decode().strip() == want, f"uvpn resolve {argv}: {r}"
        r = ov.call("s1-n2", [h.uvpn_bin(), "resolve", "--routes", ov.routes, "--site", "s1", "nosuch"],
                    overlay=False, timeout=20)
        assert r.returncode == 2, f"uvpn resolve nosuch exited {r.returncode}"


def test_curl_and_ssh_by_name():
    h.require_tools("curl", "ssh", "ssh-keygen", "/usr/sbin/sshd")
    with h.Overlay(tag="namesnet") as ov:
        www = os.path.join(ov.dir, "www")
        os.makedirs(www)
        with open(os.path.join(www, "hello.txt"), "w") as f:
            f.write("hello by name\n")
        srv = ov.run("s2-n1", [h.PYTHON, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", www],
                     name="beta1", label="http-server")
        ov.wait_listening("s2-n1", 8080, proc=srv)
        ov.run("s1-n1", ["sleep", "600"], name="alpha1", label="hold-s1-n1")
        r = ov.call("s1-n1", ["curl", "-sS", "--max-time", "20", "http://beta1:8080/hello.txt"], timeout=30)
        assert r.returncode == 0 and r.stdout == b"hello by name\n", f"curl by name: {r.returncode} {r.stderr!r}"
        log = ov.log_path("http-server")
        h.wait_until(lambda: any(ov.vip_of("s1-n1") in ln and "hello.txt" in ln for ln in open(log, errors="replace")),
                     5, "access log line from the client's VIP")
        # sshd shares the lease (and the name) of the http server on s2-n1.
        d = test_ssh.setup_sshd(ov, "s2-n1")
        # sshd gives the session a clean environment (no LD_PRELOAD): the remote command enters the overlay with
        # `uvpn run`, which shares the node's lease, so its hostname is the name we dialled.
        remote = f"{h.uvpn_bin()} run --routes {ov.routes} --site s2 --shim {h.shim_lib()} -- hostname; " \
                 "echo $SSH_CONNECTION"
        r = ov.call("s1-n1", ["ssh"] + test_ssh.ssh_opts(d) + ["-p", str(test_ssh.PORT), "root@beta1", remote],
                    timeout=60)
        assert r.returncode == 0, f"ssh beta1 exited {r.returncode}: {r.stderr!r}"
        lines = r.stdout.decode().split("\n")
        assert lines[0] == "beta1", f"remote hostname {lines[0]!r}"
        conn = lines[1].split()
        assert conn[0] == ov.vip_of("s1-n1") and conn[2] == ov.vip_of("s2-n1"), f"SSH_CONNECTION {lines[1]!r}"


def test_virtual_interface():
    h.require_tools("getent")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise h.Skip("no C compiler")
    with h.Overlay(tag="ifaces", sites=2, nodes=1) as ov:
        probe = os.path.join(ov.dir, "names_probe")
        subprocess.run([cc, "-O1", "-o", probe, PROBE_SRC], check=True, timeout=60)
        for host in ("s1-n1", "s2-n1"):
            r = ov.call(host, [probe, "ifaces"], timeout=20)
            assert r.returncode == 0, f"names_probe on {host}: {r.stderr!r}"
            out = r.stdout.decode()
            vip, real = ov.vip_of(host), ov.real_ip(host)
            assert f"getifaddrs uvpn0 {vip} 255.255.0.0 up" in out, out
            assert f"ifconf uvpn0 {vip}" in out, out
            assert f"ioctl uvpn0 addr {vip}" in out and "ioctl uvpn0 netmask 255.255.0.0" in out, out
            assert f" {real} " in out.replace("\n", " \n "), f"real interface missing: {out}"
            print(f"  {host}: uvpn0 {vip} next to {real}")
        # Without the shim the node has no such interface.
        r = ov.call("s1-n1", [probe, "ifaces"], overlay=False, timeout=20)
        assert "uvpn0 1" not in r.stdout.decode(), r.stdout


if __name__ == "__main__":
    h.main([test_forward_reverse_self_agree, test_curl_and_ssh_by_name, test_virtual_interface])
