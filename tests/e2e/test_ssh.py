#!/usr/bin/python3
"""sshd on a node of site 2 (own config: port 2222, generated host key, key auth for root), ssh and a 50 MB scp
from site 1. sshd re-executes itself with the accepted socket as fd 0, so its log line "Accepted publickey ... from
<client VIP>" proves the virtual peer survives execve and dup2."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PORT = 2222


def setup_sshd(ov, host):
    d = os.path.join(ov.dir, "ssh")
    os.makedirs(d, mode=0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/host_key"], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/client_key"], check=True)
    with open(f"{d}/client_key.pub") as src, open(f"{d}/authorized_keys", "w") as dst:
        dst.write(src.read())
    sftp = next((p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server")
                 if os.path.exists(p)), None)
    with open(f"{d}/sshd_config", "w") as f:
        f.write(f"""Port {PORT}
ListenAddress 0.0.0.0
HostKey {d}/host_key
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
LogLevel VERBOSE
""" + (f"Subsystem sftp {sftp}\n" if sftp else ""))
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    p = ov.run(host, ["/usr/sbin/sshd", "-D", "-e", "-f", f"{d}/sshd_config"], label="sshd")
    ov.wait_listening(host, PORT, proc=p)
    return d


def ssh_opts(d):
    return ["-i", f"{d}/client_key", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR"]


def test_ssh_command_and_scp():
    h.require_tools("ssh", "scp", "ssh-keygen", "/usr/sbin/sshd")
    with h.Overlay(tag="ssh") as ov:
        d = setup_sshd(ov, "s2-n1")
        vip = ov.vip_of("s2-n1")
        r = ov.call("s1-n1", ["ssh"] + ssh_opts(d) + ["-p", str(PORT), f"root@{vip}",
                                                       "echo remote-ok; echo $SSH_CONNECTION"], timeout=60)
        assert r.returncode == 0, f"ssh exited {r.returncode}: {r.stderr!r}"
        lines = r.stdout.decode().split("\n")
        assert lines[0] == "remote-ok", r.stdout
        # SSH_CONNECTION = "client_ip client_port server_ip server_port", all virtual.
        conn = lines[1].split()
        assert conn[0] == ov.vip_of("s1-n1") and conn[2] == vip, f"SSH_CONNECTION {lines[1]!r}"
        big = os.path.join(ov.dir, "big.bin")
        with open(big, "wb") as f:
            for _ in range(50):
                f.write(os.urandom(1 << 20))
        dst = os.path.join(ov.dir, "big.copy")
        r = ov.call("s1-n1", ["scp", "-q"] + ssh_opts(d) + ["-P", str(PORT), big, f"root@{vip}:{dst}"],
                    timeout=180)
        assert r.returncode == 0, f"scp exited {r.returncode}: {r.stderr!r}"
        assert h.sha256_file(dst) == h.sha256_file(big), "scp copy differs"
        want = f"from {ov.vip_of('s1-n1')} port"
        h.wait_until(lambda: any("Accepted publickey" in ln and want in ln
                                 for ln in open(ov.log_path("sshd"), errors="replace")), 5,
                     f"sshd log 'Accepted publickey ... {want}'")
        os.unlink(big)
        os.unlink(dst)


if __name__ == "__main__":
    h.main([test_ssh_command_and_scp])
