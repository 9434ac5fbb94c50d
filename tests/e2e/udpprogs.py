"""UDP programs the e2e tests (test_udp.py) and bench/udp_bench.py run on compute nodes, normally under `uvpn run`.

  echo PORT [v6]        echo server bound to the wildcard (AF_INET, or AF_INET6 dual-stack with `v6`): answers each
                        datagram with 'SRC ip port\\n' + the payload, so the client can check what the server saw;
                        runs until killed
  client HOST PORT      checks against `echo`: unconnected sendto/recvfrom with several sizes (65000 included),
                        connected send/recv and write/read, sendmsg/recvmsg, AF_INET6 with ::ffff:HOST; prints one
                        JSON line {"ok": bool, "server_saw": [...], "errors": [...], ...}
  silent HOST PORT      sends 20 datagrams to HOST:PORT and waits 1 s for any answer; prints {"answers": n}
Every wait is bounded (socket timeouts).
"""
import json
import os
import select
import socket
import sys


def echo(port, v6=False):
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if v6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::" if v6 else "0.0.0.0", port))
    print("READY", flush=True)
    while True:
        data, src = s.recvfrom(65535)
        head = f"SRC {src[0]} {src[1]}\n".encode()
        reply = head + data
        if len(reply) > 65483:
            reply = head + data[:65483 - len(head)]
        s.sendto(reply, src)


def split(reply):
    head, _, payload = reply.partition(b"\n")
    _, ip, port = head.decode().split()
    return [ip, int(port)], payload


def client(host, port):
    errors, saw = [], []
    res = {}
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    sizes = [1, 100, 1400, 8000, 30000, 65000]
    for n in sizes:
        data = os.urandom(n)
        try:
            s.sendto(data, (host, port))
            reply, src = s.recvfrom(65535)
            who, payload = split(reply)
            saw.append(who)
            if src != (host, port):
                errors.append(f"size {n}: reply from {src}")
            if payload != data[:len(payload)] or (n < 60000 and len(payload) != n):
                errors.append(f"size {n}: payload differs ({len(payload)} bytes back)")
        except OSError as e:
            errors.append(f"size {n}: {e}")
    res["local_port"] = s.getsockname()[1]
    # Connected UDP: send/recv, write/read.
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(3)
    try:
        c.connect((host, port))
        res["peer"] = list(c.getpeername())
        c.send(b"connected-1")
        who, payload = split(c.recv(65535))
        saw.append(who)
        if payload != b"connected-1":
            errors.append(f"connected send/recv: {payload!r}")
        os.write(c.fileno(), b"connected-2")
        select.select([c], [], [], 3)
        who, payload = split(os.read(c.fileno(), 65535))
        if payload != b"connected-2":
            errors.append(f"connected write/read: {payload!r}")
        c.sendmsg([b"msg-", b"parts"])
        data, _, _, _ = c.recvmsg(65535)
        if split(data)[1] != b"msg-parts":
            errors.append(f"sendmsg/recvmsg: {data!r}")
    except OSError as e:
        errors.append(f"connected: {e}")
    # AF_INET6 socket, v4-mapped address.
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s6.settimeout(3)
    try:
        s6.sendto(b"six", ("::ffff:" + host, port))
        reply, src = s6.recvfrom(65535)
        if split(reply)[1] != b"six" or src[0] != "::ffff:" + host or src[1] != port:
            errors.append(f"v6: {reply!r} from {src}")
    except OSError as e:
        errors.append(f"v6: {e}")
    res.update(ok=not errors, errors=errors, server_saw=saw)
    print(json.dumps(res), flush=True)


def silent(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    for i in range(20):
        s.sendto(b"nobody %d" % i, (host, port))
    answers = 0
    try:
        while True:
            s.recvfrom(100)
            answers += 1
    except OSError:
        pass
    print(json.dumps({"answers": answers}), flush=True)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "echo":
        echo(int(sys.argv[2]), len(sys.argv) > 3 and sys.argv[3] == "v6")
    elif cmd == "client":
        client(sys.argv[2], int(sys.argv[3]))
    elif cmd == "silent":
        silent(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(f"unknown command {cmd}")
