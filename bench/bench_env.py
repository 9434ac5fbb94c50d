"""Where the benchmark's programs run: two roles, "client" and "server", each either kernel-routed or overlay.

Theory of operation: an Env turns (role, argv, overlay?) into a command line and runs it, and tells the driver
which address reaches the server in each mode. The driver never builds namespaces or starts routers itself.

- TestbedEnv: two sites from tests/testbed/uvpn-testbed with --kernel-routes, brought up (and torn down) by
  tests/e2e/harness.Overlay; the client is s1-n1 and the server s2-n1. Kernel mode runs programs plainly in the
  node's namespace and addresses the server by its real IP (the heads forward). Overlay mode runs them under
  `uvpn run` and addresses the server by its virtual IP.
- LoopbackEnv: both roles on this host, both modes plain, 127.0.0.1. Only for checking the tools and the report
  pipeline without root (--loopback-selftest): its "overlay" numbers are kernel numbers.

Every process an Env starts is remembered by PID and ended in cleanup() (SIGTERM, then SIGKILL after a grace
period); every wait is bounded.
"""

import os
import signal
import subprocess
import sys
import time


class EnvError(Exception):
    pass


class Env:
    def __init__(self):
        self._procs = []

    # --- to override ---------------------------------------------------------------------------------------
    def wrap(self, role, argv, overlay):
        raise NotImplementedError

    def server_ip(self, overlay):
        raise NotImplementedError

    def listen_probe(self, port):
        """argv that prints the listening TCP sockets on `port` in the server's network namespace."""
        return ["ss", "-Hltn", f"sport = :{port}"]

    def setup(self):
        pass

    def teardown(self):
        pass

    # --- shared --------------------------------------------------------------------------------------------
    def spawn(self, role, argv, overlay, log_path):
        log = open(log_path, "ab")
        p = subprocess.Popen(self.wrap(role, argv, overlay), stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._procs.append(p)
        return p

    def run(self, role, argv, overlay, timeout):
        """Runs to completion within `timeout` seconds. Returns (rc, stdout, stderr); rc None on timeout."""
        p = subprocess.Popen(self.wrap(role, argv, overlay), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        self._procs.append(p)
        try:
            out, err = p.communicate(timeout=timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            stop_process(p)
            out, err = p.communicate()
            rc = None
        self._procs.remove(p)
        return rc, out.decode(errors="replace"), err.decode(errors="replace")

    def wait_listening(self, port, proc, timeout=10.0):
        """True once something listens on `port` in the server's namespace; False if `proc` died or on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                return False
            r = subprocess.run(self.wrap("server", self.listen_probe(port), False), capture_output=True,
                               timeout=10)
            if r.returncode == 0 and r.stdout.strip():
                return True
            time.sleep(0.05)
        return False

    def stop(self, proc):
        stop_process(proc)
        if proc in self._procs:
            self._procs.remove(proc)

    def cleanup(self):
        for p in list(self._procs):
            stop_process(p)
        self._procs.clear()
        self.teardown()


def stop_process(p, grace=3.0):
    """SIGTERM to the process (its own session, so only what it started), SIGKILL after `grace` seconds."""
    if p.poll() is not None:
        return
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)
    except ProcessLookupError:
        pass


class LoopbackEnv(Env):
    description = "loopback self-test (both columns are kernel loopback; ratios are meaningless)"

    def wrap(self, role, argv, overlay):
        return list(argv)

    def server_ip(self, overlay):
        return "127.0.0.1"


class TestbedEnv(Env):
    """Two sites of one node each, kernel routes on, one uvpn router per head: tests/e2e/harness.Overlay does the
    bring-up (testbed, session, routers, links up) and the cleanup (process groups it started, testbed down)."""

    def __init__(self, repo, build_dir, log_level="warn", router_args=None):
        super().__init__()
        self.router_args = list(router_args or [])
        sys.path.insert(0, os.path.join(repo, "tests", "e2e"))
        os.environ["UVPN_BUILD_DIR"] = build_dir  # read by the harness at each call
        import harness  # noqa: E402  (tests/e2e/harness.py)
        self.h = harness
        self.log_level = log_level
        self.ov = None
        self.description = "testbed: client s1-n1 -> server s2-n1 (kernel: heads forward; overlay: uvpn run)"

    HOSTS = {"client": "s1-n1", "server": "s2-n1"}

    def setup(self):
        try:
            self.h.require_tools("iperf3", "ss", "sysctl")
        except self.h.Skip as e:
            raise EnvError(f"cannot run: {e}")
        ov = self.h.Overlay(sites=2, nodes=1, tag="bench", kernel_routes=True, log_level=self.log_level,
                            router_args=self.router_args)
        self.ov = ov.__enter__()  # on failure __enter__ has already cleaned up
        self.description += f"; router args {self.router_args or 'default'}; logs in {ov.dir}"
        # Many short connections back to back: let connect() reuse TIME_WAIT ports (per-namespace settings,
        # gone with the namespaces). Clients and both routers' outgoing legs all connect.
        for host in ("s1-n1", "s2-n1", "s1-head", "s2-head"):
            subprocess.run(["nsenter", f"--net=/run/netns/{ov.ns(host)}", "--", "sysctl", "-qw",
                            "net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=10000 65000"],
                           check=True, timeout=10)

    def server_ip(self, overlay):
        host = self.HOSTS["server"]
        return self.ov.vip_of(host) if overlay else self.ov.real_ip(host)

    def spawn(self, role, argv, overlay, log_path):
        label = os.path.splitext(os.path.basename(log_path))[0]
        p = self.ov.run(self.HOSTS[role], argv, overlay=overlay, label=label)
        self._procs.append(p)
        return p

    def run(self, role, argv, overlay, timeout):
        p = self.ov.run(self.HOSTS[role], argv, overlay=overlay, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(timeout=timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            self.ov.stop(p, timeout=3)
            out, err = p.communicate()
            rc = None
        return rc, out.decode(errors="replace"), err.decode(errors="replace")

    def wait_listening(self, port, proc, timeout=10.0):
        try:
            self.ov.wait_listening(self.HOSTS["server"], port, timeout=timeout, proc=proc)
            return True
        except AssertionError as e:
            log(f"{e}")
            return False

    def stop(self, proc):
        self.ov.stop(proc)
        if proc in self._procs:
            self._procs.remove(proc)

    def cleanup(self):
        self._procs.clear()
        if self.ov is not None:
            self.ov.close()
            self.ov = None


def log(msg):
    print(msg, file=sys.stderr, flush=True)
