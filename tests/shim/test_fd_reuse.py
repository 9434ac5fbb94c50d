#!/usr/bin/env python3
"""Regression: a descriptor number once marked as an overlay UDP socket, then reused for a stream socket through
dup2/dup3/fcntl(F_DUPFD)/close_range/socket(), must not lose bytes to the UDP header stripping (fdtrack.cc).
Runs a child under the preload library with a config whose router does not exist (no traffic leaves loopback)."""
import os
import subprocess
import sys

CHILD = r'''
import fcntl, os, socket, sys
PAYLOAD = b"0123456789abcdefghijklmnopqrstuvwxyz"

def marked_udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setblocking(False)
    try:
        u.recvfrom(100)          # the shim learns the fd is a datagram socket and marks it
    except BlockingIOError:
        pass
    return u

def check(name, fd, peer):
    peer.sendall(PAYLOAD)
    data = b""
    while len(data) < len(PAYLOAD):
        chunk = os.read(fd, 10)
        if not chunk:
            break
        data += chunk
    if data != PAYLOAD:
        print("FAIL %s: read %r" % (name, data)); sys.exit(1)
    print("ok", name)

# dup2 onto the marked number
u = marked_udp(); a, b = socket.socketpair(); X = u.fileno()
os.dup2(a.fileno(), X); check("dup2", X, b)
# dup3 (os.dup2 with inheritable=False uses dup3)
u = marked_udp(); a, b = socket.socketpair(); X = u.fileno()
os.dup2(a.fileno(), X, inheritable=False); check("dup3", X, b)
# close behind the shim's back (close_range), then socket() reuses the number
u = marked_udp(); X = u.fileno(); u.detach()
os.closerange(X, X + 1)
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
c = socket.socket(); c.connect(srv.getsockname()); s, _ = srv.accept()
fd = c.fileno() if c.fileno() == X else (s.fileno() if s.fileno() == X else X)
if fd == c.fileno():
    check("close_range+socket", fd, s)
elif fd == s.fileno():
    check("close_range+accept", fd, c)
else:
    print("ok close_range (number not reused)")
'''

def main():
    lib = sys.argv[1]
    env = dict(os.environ)
    env["LD_PRELOAD"] = lib
    env["UVPN_SHIM_CONFIG"] = "v1 net=100.97.0.0/16 router=127.0.0.1:9 vip=100.97.1.10 real=127.0.0.1 timeout_ms=1000"
    r = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    return r.returncode

if __name__ == "__main__":
    sys.exit(main())
