"""End-to-end harness: a uvpn overlay over a namespace testbed, for the e2e tests and the benchmarks.

Theory of operation:
  Overlay(...) is a context manager. On enter it brings up `tests/testbed/uvpn-testbed up NAME` (a unique NAME per
  overlay), writes a route table with `uvpn session new` (site sK: peer=10.91.0.K:7700, node=10.91.K.1:7701,
  subnet 100.97.K.0/24), starts `uvpn router` in every head namespace (log in the overlay's log dir, status
  socket in /tmp/uvpn-e2e-ctl), waits until every status socket answers and every router sees its links up.
  Programs then run on compute nodes through run()/call(): with overlay=True under
  `uvpn run --vip <vip_of(host)>`, so the virtual address of every node is known in advance (site K node J ->
  100.97.K.(10+J)); with overlay=False directly.
  Every process is started in its own session (process group) and recorded; on exit (normal, exception or
  KeyboardInterrupt) the harness signals only those groups, then always runs `uvpn-testbed down NAME`.
  Binaries come from $UVPN_BUILD_DIR (bin/uvpn, lib/libuvpn_shim.so), default <repo>/build/release.

Tests are plain scripts: `harness.main([fn, ...])` runs each function, prints one line per test and a closing
"N passed, N failed" line; exit 77 (ctest SKIP_RETURN_CODE) if the environment cannot run them (not root, a tool
missing), 1 on any failure.
"""

import contextlib
import hashlib
import itertools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTBED = os.path.join(REPO, "tests", "testbed", "uvpn-testbed")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
ROUTER_PEER_PORT = 7700
ROUTER_NODE_PORT = 7701
CONTROL_DIR = "/tmp/uvpn-e2e-ctl"
_counter = itertools.count(1)
_active_dirs = []  # log dirs of the overlays made by the current test (printed when it fails)


class Skip(Exception):
    """Raised when the environment cannot run a test (exit code 77)."""


def build_dir():
    return os.environ.get("UVPN_BUILD_DIR") or os.path.join(REPO, "build", "release")


def uvpn_bin():
    return os.path.join(build_dir(), "bin", "uvpn")


def shim_lib():
    return os.path.join(build_dir(), "lib", "libuvpn_shim.so")


def require_tools(*tools):
    """Raises Skip unless root and every tool is on PATH (or an existing absolute path)."""
    if os.geteuid() != 0:
        raise Skip("needs root (network namespaces)")
    for t in ("ip", "nsenter") + tools:
        if not (shutil.which(t) or (os.path.isabs(t) and os.access(t, os.X_OK))):
            raise Skip(f"tool missing: {t}")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def wait_until(pred, timeout, what, interval=0.05):
    """Polls pred() until true; raises AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _raise_nofile():
    # 1,000 concurrent connections need more than the usual 1024 descriptors (router: 2 per side plus pipes).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, min(hard, 65536))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class Overlay:
    """A testbed with one uvpn router per site. Use as `with Overlay(sites=2, nodes=2) as ov: ...`."""

    def __init__(self, sites=2, nodes=2, tag="t", routers=True, kernel_routes=False, log_level="debug",
                 router_args=()):
        require_tools()
        for path in (uvpn_bin(), shim_lib()):
            if not os.path.exists(path):
                raise AssertionError(f"{path} is missing: build first (UVPN_BUILD_DIR={build_dir()})")
        self.sites, self.nodes = sites, nodes
        self.name = f"{tag[:12]}{os.getpid() % 100000}x{next(_counter)}".replace("-", "_")
        self.session = self.name
        self.routers_wanted = routers
        self.kernel_routes = kernel_routes
        self.log_level = log_level
        self.router_args = list(router_args)  # extra `uvpn router` options, e.g. ["--no-resume"]
        base = os.environ.get("UVPN_E2E_LOGS", "/tmp/uvpn-e2e")
        self.dir = os.path.join(base, self.name)
        self.routes = os.path.join(self.dir, f".uvpn_route_{self.session}")
        self.procs = []  # (label, Popen) of everything started, routers included
        self.routers = {}  # site -> Popen
        self._logs = []
        _active_dirs.append(self.dir)

    # ---- lifecycle -------------------------------------------------------------------------------------------
    def __enter__(self):
        try:
            self._up()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _up(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir, mode=0o700)
        with open(os.path.join(self.dir, "owner.pid"), "w") as f:
            f.write(f"{os.getpid()}\n")
        os.makedirs(CONTROL_DIR, mode=0o700, exist_ok=True)
        argv = [TESTBED, "up", self.name, "--sites", str(self.sites), "--nodes", str(self.nodes)]
        if self.kernel_routes:
            argv.append("--kernel-routes")
        subprocess.run(argv, check=True, timeout=120)
        specs = []
        for k in range(1, self.sites + 1):
            specs += ["--site", f"s{k},peer=10.91.0.{k}:{ROUTER_PEER_PORT},node=10.91.{k}.1:{ROUTER_NODE_PORT}"]
        subprocess.run([uvpn_bin(), "session", "new", "--id", self.session, "--dir", self.dir] + specs,
                       check=True, timeout=30, stdout=subprocess.DEVNULL)
        assert os.path.exists(self.routes), f"uvpn session new did not write {self.routes}"
        if "--insecure-plaintext" in self.router_args:
            # A plaintext session has no secret: `uvpn run` would otherwise sign its registration and refuse the
            # unsigned answer of a plaintext router (a downgrade it must not accept).
            os.remove(os.path.join(self.dir, f".uvpn_secret_{self.session}"))
        if self.routers_wanted:
            for k in range(1, self.sites + 1):
                self.start_router(f"s{k}")
            for k in range(1, self.sites + 1):
                self.wait_router(f"s{k}")
            if self.sites > 1:
                self.wait_links_up()

    def close(self):
        """Stops every process this overlay started (by process group): programs first, then the routers (so
        programs do not log lost leases); then tears the testbed down. Idempotent."""
        routers = set(id(p) for p in self.routers.values())
        programs = [p for _, p in self.procs if id(p) not in routers]
        for group in (programs, [p for _, p in self.procs if id(p) in routers]):
            for p in reversed(group):
                if p.poll() is None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(p.pid, signal.SIGTERM)
            deadline = time.monotonic() + 3
            for p in group:
                try:
                    p.wait(timeout=max(0.01, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(p.pid, signal.SIGKILL)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        p.wait(timeout=2)
        self.procs = []
        for site in self.routers:
            with contextlib.suppress(OSError):
                os.unlink(self.control(site))
        self.routers = {}
        for f in self._logs:
            with contextlib.suppress(Exception):
                f.close()
        self._logs = []
        subprocess.run([TESTBED, "down", self.name], timeout=60)
        _prune_data(self.dir)

    # ---- addresses -------------------------------------------------------------------------------------------
    @staticmethod
    def _parse(host):
        """'s2-n1' -> (2, 1); 's1-head' -> (1, 0)."""
        site, _, node = host.partition("-")
        return int(site[1:]), (0 if node == "head" else int(node[1:]))

    def ns(self, host):
        return f"{self.name}-{host}"

    def real_ip(self, host):
        k, j = self._parse(host)
        return f"10.91.{k}.1" if j == 0 else f"10.91.{k}.{9 + j}"

    def vip_of(self, host):
        k, j = self._parse(host)
        assert j > 0, "heads have no virtual address"
        return f"100.97.{k}.{10 + j}"

    def site_of(self, host):
        return host.split("-")[0]

    def control(self, site):
        # Not in self.dir: a Unix socket path must stay under 108 bytes whatever the build directory is.
        return os.path.join(CONTROL_DIR, f"{self.name}-{site}.sock")

    def log_path(self, label):
        return os.path.join(self.dir, label + ".log")

    # ---- processes -------------------------------------------------------------------------------------------
    def _argv(self, host, argv, overlay, name, vip):
        wrapped = list(argv)
        if overlay:
            wrapped = [uvpn_bin(), "run", "--routes", self.routes, "--site", self.site_of(host),
                       "--vip", vip or self.vip_of(host), "--shim", shim_lib()]
            if name:
                wrapped += ["--name", name]
            wrapped += ["--"] + list(argv)
        return ["nsenter", f"--net=/run/netns/{self.ns(host)}", "--"] + wrapped

    def run(self, host, argv, overlay=True, name=None, vip=None, label=None, stdin=subprocess.DEVNULL,
            stdout=None, stderr=None, env=None, cwd=None):
        """Starts argv on `host` (e.g. 's1-n1'); returns the Popen. Output goes to <dir>/<label>.log unless given."""
        label = label or f"{host}-{os.path.basename(argv[0])}-{len(self.procs)}"
        if stdout is None or stderr is None:
            f = open(self.log_path(label), "ab")
            self._logs.append(f)
            stdout = f if stdout is None else stdout
            stderr = f if stderr is None else stderr
        full_env = dict(os.environ)
        full_env.update(env or {})
        p = subprocess.Popen(self._argv(host, argv, overlay, name, vip), stdin=stdin, stdout=stdout,
                             stderr=stderr, env=full_env, cwd=cwd or self.dir, start_new_session=True,
                             preexec_fn=_raise_nofile)
        self.procs.append((label, p))
        return p

    def call(self, host, argv, overlay=True, timeout=60, input=None, name=None, vip=None, env=None, check=False):
        """Runs argv to completion on `host`; returns CompletedProcess with bytes stdout/stderr."""
        p = self.run(host, argv, overlay=overlay, name=name, vip=vip, stdin=subprocess.PIPE if input else
                     subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            out, err = p.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            raise AssertionError(f"{argv} on {host} timed out after {timeout}s; stderr: {err[-2000:]!r}")
        cp = subprocess.CompletedProcess(p.args, p.returncode, out, err)
        if check and cp.returncode != 0:
            raise AssertionError(f"{argv} on {host} exited {cp.returncode}; stderr: {err[-2000:]!r}")
        return cp

    def stop(self, p, sig=signal.SIGTERM, timeout=5):
        """Stops one process started here (its whole group); returns its exit status."""
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, sig)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        return p.returncode

    def wait_listening(self, host, port, timeout=10, proc=None):
        """Waits until something listens on TCP `port` in host's namespace (asks `ss`, opens no connection)."""
        def listening():
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"server on {host} exited {proc.returncode} before listening on {port}")
            r = subprocess.run(["nsenter", f"--net=/run/netns/{self.ns(host)}", "--", "ss", "-Htln",
                                f"sport = :{port}"], capture_output=True, text=True)
            return r.returncode == 0 and r.stdout.strip() != ""
        wait_until(listening, timeout, f"a listener on {host}:{port}")

    # ---- routers ---------------------------------------------------------------------------------------------
    def start_router(self, site):
        k = int(site[1:])
        p = self.run(f"s{k}-head", [uvpn_bin(), "router", "--routes", self.routes, "--site", site, "--control",
                                   self.control(site), "--log-level", self.log_level,
                                   "--spill-dir", os.path.join(self.dir, f"spill-{site}")] + self.router_args,
                     overlay=False, label=f"router-{site}")
        self.routers[site] = p
        return p

    def router_log(self, site):
        with open(self.log_path(f"router-{site}"), "rb") as f:
            return f.read().decode(errors="replace")

    def status_text(self, site, json_flag=False):
        argv = [uvpn_bin(), "status", "--control", self.control(site)] + (["--json"] if json_flag else [])
        r = subprocess.run(argv, capture_output=True, timeout=10)
        if r.returncode != 0:
            raise AssertionError(f"uvpn status {site} exited {r.returncode}: {r.stderr.decode(errors='replace')}")
        return r.stdout.decode(errors="replace")

    def status_json(self, site):
        return json.loads(self.status_text(site, json_flag=True))

    def wait_router(self, site, timeout=10):
        p = self.routers[site]

        def answers():
            if p.poll() is not None:
                raise AssertionError(f"router {site} exited {p.returncode}:\n{self.router_log(site)[-3000:]}")
            if not os.path.exists(self.control(site)):
                return False
            r = subprocess.run([uvpn_bin(), "status", "--control", self.control(site)], capture_output=True,
                               timeout=10)
            return r.returncode == 0
        wait_until(answers, timeout, f"router {site}'s status socket")

    def links_up(self, site):
        """True if the status of `site` shows every other site's link up. Tolerant of the exact JSON layout:
        looks for a list under a key containing 'link' whose entries carry a truthy 'up' or state 'up'."""
        st = self.status_json(site)
        links = _find_key(st, "link")
        if not isinstance(links, list):
            return True  # layout unknown: the socket answers, that is all we can tell
        up = 0
        for ln in links:
            if isinstance(ln, dict) and (ln.get("up") is True or str(ln.get("state", "")).lower() in ("up",
                                                                                                        "established")):
                up += 1
        return up >= self.sites - 1

    def wait_links_up(self, timeout=15):
        for k in range(1, self.sites + 1):
            wait_until(lambda: self.links_up(f"s{k}"), timeout, f"links of router s{k} up")

    def router_alive(self, site):
        return self.routers[site].poll() is None

    # ---- WAN ------------------------------------------------------------------------------------------------
    def cut(self, a, b):
        subprocess.run([TESTBED, "cut", self.name, a, b], check=True, timeout=30)

    def restore(self, a, b):
        subprocess.run([TESTBED, "restore", self.name, a, b], check=True, timeout=30)

    def chaos(self, site, *args):
        """`uvpn chaos` against router `site`: chaos(site, "cut", "s2"), chaos(site, "cut", "s2", "--for", "5"),
        chaos(site, "restore", "s2"), chaos(site, "reset", "s2")."""
        r = subprocess.run([uvpn_bin(), "chaos", "--control", self.control(site)] + list(args),
                           capture_output=True, timeout=10)
        if r.returncode != 0:
            raise AssertionError(f"uvpn chaos {site} {' '.join(args)} exited {r.returncode}: "
                                 f"{r.stderr.decode(errors='replace')}")
        return r.stdout.decode(errors="replace")


def _prune_data(d, limit=1 << 20):
    """Deletes data files over `limit` bytes (test payloads) from an overlay's dir; logs stay for debugging."""
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with contextlib.suppress(OSError):
                if not f.endswith(".log") and os.path.getsize(p) > limit:
                    os.unlink(p)


def _find_key(obj, fragment):
    """First value (depth-first) of a dict key containing `fragment` (case-insensitive), or None."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if fragment in str(k).lower():
                return v
        for v in obj.values():
            r = _find_key(v, fragment)
            if r is not None:
                return r
    elif isinstance(obj, list):
        for v in obj:
            r = _find_key(v, fragment)
            if r is not None:
                return r
    return None


find_key = _find_key


def _dump_logs(limit=2500):
    for d in _active_dirs:
        print(f"--- logs in {d}")
        for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if f.endswith(".log"):
                with open(os.path.join(d, f), "rb") as fh:
                    fh.seek(0, 2)
                    fh.seek(max(0, fh.tell() - limit))
                    tail = fh.read().decode(errors="replace")
                print(f"--- {f} (last {limit} bytes):\n{tail}")


def reap_stale():
    """Tears down testbeds left by test processes that died without cleaning up (e.g. killed by a ctest
    timeout): every overlay dir under the log base whose owner.pid is no longer alive."""
    base = os.environ.get("UVPN_E2E_LOGS", "/tmp/uvpn-e2e")
    if not os.path.isdir(base):
        return
    for name in os.listdir(base):
        owner = os.path.join(base, name, "owner.pid")
        try:
            with open(owner) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if pid == os.getpid() or os.path.exists(f"/proc/{pid}"):
            continue
        subprocess.run([TESTBED, "down", name], timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with contextlib.suppress(OSError):
            os.unlink(owner)


def _sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(tests):
    """Runs test functions; prints a line each and 'N passed, N failed'; exits 0, 1, or 77 if all skipped."""
    passed = failed = skipped = 0
    only = set(sys.argv[1:])
    signal.signal(signal.SIGTERM, _sigterm)  # so `with Overlay` cleans up when ctest or a user stops us
    if os.geteuid() == 0:
        reap_stale()
    for fn in tests:
        if only and fn.__name__ not in only:
            continue
        t0 = time.monotonic()
        del _active_dirs[:]
        try:
            fn()
        except Skip as e:
            skipped += 1
            print(f"SKIP {fn.__name__}: {e}", flush=True)
            continue
        except KeyboardInterrupt:
            print(f"INTERRUPTED {fn.__name__}", flush=True)
            raise
        except BaseException:
            failed += 1
            print(f"FAIL {fn.__name__} ({time.monotonic() - t0:.1f}s)", flush=True)
            traceback.print_exc()
            _dump_logs()
            sys.stdout.flush()
            continue
        passed += 1
        print(f"ok   {fn.__name__} ({time.monotonic() - t0:.1f}s)", flush=True)
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""), flush=True)
    if failed:
        sys.exit(1)
    if skipped and not passed:
        sys.exit(77)
    sys.exit(0)
