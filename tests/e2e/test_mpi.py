#!/usr/bin/python3
"""Open MPI across two sites through the overlay (docs/mpi.md).

One rank on a compute node of site 1, one on a compute node of site 2; the nodes have no route to each other, so
every byte goes through the two routers. mpirun runs on s1-n1 under `uvpn run --name mpi-a` with a hostfile naming
both overlay hosts; it starts orted on s2-n1 (overlay name mpi-b, whose sshd runs under `uvpn run`) through
scripts/uvpn-rsh, which wraps the remote command in `uvpn run`. OOB and the TCP BTL are restricted to the shim's
virtual interface uvpn0, so the addresses published in the modex are VIPs. The program (mpi_pingpong.c, built here
with mpicc) checks every byte of a ping-pong of 1 B .. 1 MiB messages; while it holds its connections open, both
routers' `uvpn status --json` must show relays between the two VIPs that carried the ping-pong's bytes.
test_mpi_four_nodes does the same with four ranks on 2 x 2 nodes, plus a checked MPI_Alltoall (all pairs)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_ssh  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RSH = os.path.join(h.REPO, "scripts", "uvpn-rsh")
ITERS = 20
TOOLS = ("mpirun", "mpicc", "orted", "ssh", "ssh-keygen", "/usr/sbin/sshd")
SIZES = (1, 1024, 65536, 1 << 20)


def relay_bytes_between(st, a, b):
    """Sum of bytes of the relays in status `st` between VIPs a and b (either direction), but for ssh's."""
    total = 0
    for r in st.get("relays", []):
        src, dst = str(r.get("src", "")), str(r.get("dst", ""))
        if {src.split(":")[0], dst.split(":")[0]} == {a, b} and not dst.endswith(f":{test_ssh.PORT}"):
            total += int(r.get("bytes_fwd", 0)) + int(r.get("bytes_rev", 0))
    return total


def no_route(ov, src, dst):
    """True if `src`'s namespace has no kernel route to `dst`'s real or virtual address."""
    for ip in (ov.real_ip(dst), ov.vip_of(dst)):
        r = subprocess.run(["nsenter", f"--net=/run/netns/{ov.ns(src)}", "--", "ip", "route", "get", ip],
                           capture_output=True, text=True)
        if r.returncode == 0:
            return False
    return True


def start_sshds(ov, hosts):
    """sshd (test_ssh's config: port 2222, key auth) under `uvpn run` on every host; returns the key dir."""
    d = test_ssh.setup_sshd(ov, hosts[0])
    for host in hosts[1:]:
        p = ov.run(host, ["/usr/sbin/sshd", "-D", "-e", "-f", f"{d}/sshd_config"], label=f"sshd-{host}")
        ov.wait_listening(host, test_ssh.PORT, proc=p)
    return d


def run_mpi(ov, placement, iters):
    """Runs mpi_pingpong with one rank per entry of `placement` [(host, overlay name)], mpirun on the first host.
    Returns (mpirun output, {site: relay bytes between the first and the last rank's VIPs}, payload bytes)."""
    first, last = placement[0][0], placement[-1][0]
    for x, y in ((first, last), (last, first)):
        assert no_route(ov, x, y), f"{x} must have no route to {y}"
    prog = os.path.join(ov.dir, "mpi_pingpong")
    subprocess.run(["mpicc", "-O2", "-o", prog, os.path.join(HERE, "mpi_pingpong.c")], check=True, timeout=60)
    # Each remote lease is named by a holder started first; that node's sshd and orted share it.
    for host, name in placement[1:]:
        ov.run(host, ["sleep", "600"], name=name, label=f"hold-{name}")
    for _, name in placement[1:]:
        h.wait_until(lambda: ov.call(first, ["getent", "hosts", name], timeout=10).returncode == 0, 20,
                     f"{name} resolvable from {first}")
    d = start_sshds(ov, [host for host, _ in placement[1:]])
    hostfile = os.path.join(ov.dir, "hostfile")
    with open(hostfile, "w") as f:
        f.writelines(f"{name} slots=1\n" for _, name in placement)
    go = os.path.join(ov.dir, "go")
    env = {
        "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
        "UVPN_RSH_SITES": " ".join(f"{name}={ov.site_of(host)}" for host, name in placement),
        "UVPN_RSH_UVPN": h.uvpn_bin(), "UVPN_SHIM": h.shim_lib(),
        "UVPN_RSH_SSH_OPTS": " ".join(test_ssh.ssh_opts(d) + ["-p", str(test_ssh.PORT), "-l", "root"]),
    }
    argv = ["mpirun", "--allow-run-as-root", "-np", str(len(placement)), "--hostfile", hostfile,
            "--map-by", "node", "--mca", "plm_rsh_agent", RSH,
            "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", "uvpn0",
            "--mca", "oob_tcp_if_include", "uvpn0",
            "--mca", "mpi_yield_when_idle", "1",  # do not spin: the testbed shares two cores with the routers
            prog, str(iters), go]
    out_path = ov.log_path("mpirun")
    p = ov.run(first, argv, name=placement[0][1], label="mpirun", env=env)

    def output():
        text = open(out_path, errors="replace").read()
        if p.poll() is not None and "pingpong ok" not in text:
            raise AssertionError(f"mpirun exited {p.returncode} before 'pingpong ok'")
        return "pingpong ok" in text
    h.wait_until(output, 120, "'pingpong ok' from mpirun", interval=0.2)
    # Read the relays while the program holds its connections open, then let it finish.
    va, vb = ov.vip_of(first), ov.vip_of(last)
    seen = {site: relay_bytes_between(ov.status_json(site), va, vb) for site in (ov.site_of(first),
                                                                                   ov.site_of(last))}
    with open(go, "w"):
        pass
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError("mpirun did not finish after the go file")
    text = open(out_path, errors="replace").read()
    assert p.returncode == 0, f"mpirun exited {p.returncode}:\n{text}"
    assert "MISMATCH" not in text, text
    for r, (_, name) in enumerate(placement):
        assert f"rank {r} on {name}\n" in text, f"rank {r} should run on {name}:\n{text}"
    for line in text.splitlines():
        if line.startswith(("rank ", "size ", "alltoall")):
            print("  " + line)
    # The ping-pong moved 2 * iters * sum(SIZES) payload bytes between the first and the last rank.
    want = 2 * iters * sum(SIZES)
    for site, n in seen.items():
        assert n >= want, f"router {site}: relays between {va} and {vb} carried {n} bytes, want >= {want}"
    print(f"  relays {va}<->{vb}: " + ", ".join(f"{s} {n} bytes" for s, n in seen.items()) + f" (payload {want})")


def test_mpi_pingpong_across_sites():
    """Two ranks: s1-n1 (mpirun, rank 0) and s2-n1 (orted through ssh, rank 1)."""
    h.require_tools(*TOOLS)
    with h.Overlay(tag="mpi", sites=2, nodes=1) as ov:
        run_mpi(ov, [("s1-n1", "mpi-a"), ("s2-n1", "mpi-b")], ITERS)


def test_mpi_four_nodes():
    """Four ranks on two nodes of each site (three orteds through ssh); all pairs talk in MPI_Alltoall."""
    h.require_tools(*TOOLS)
    with h.Overlay(tag="mpi4", sites=2, nodes=2) as ov:
        run_mpi(ov, [("s1-n1", "mpi-a1"), ("s1-n2", "mpi-a2"), ("s2-n1", "mpi-b1"), ("s2-n2", "mpi-b2")], 5)


if __name__ == "__main__":
    h.main([test_mpi_pingpong_across_sites, test_mpi_four_nodes])
