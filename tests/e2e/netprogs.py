"""Small network programs the e2e tests run on compute nodes (normally under `uvpn run`, i.e. with the shim).

Theory of operation: each subcommand is an ordinary sockets program that prints one machine-readable result line
on stdout, so a test can judge what the application saw through the shim:
  probe HOST PORT [block|nonblock|reconnect]  connect and print the errno name ("OK" on success); `nonblock`
                                               learns the result via poll + SO_ERROR, `reconnect` via a second
                                               connect() like hiredis (0 / EISCONN = OK)
  hashserver PORT                              for each connection: read to EOF, answer sha256 hex of the bytes,
                                               close (asyncio, non-blocking accept)
  hashclient HOST PORT COUNT MAXSIZE TIMEOUT   COUNT concurrent connections, each sends random bytes (1..MAXSIZE),
                                               half-closes, checks the digest; prints "OK n" or "FAIL ..."
  aserver PORT                                 asyncio echo server that prints "PEER ip port" for each client
  aclient HOST PORT                            asyncio client (non-blocking connect): sends a line, expects echo,
                                               prints "OK local_ip" (getsockname as the app sees it)
  hold HOST PORT SECONDS                       connect, send 64 KiB, read the echo, keep the connection open
"""

import asyncio
import errno
import hashlib
import os
import select
import socket
import sys
import time


def probe(host, port, mode="block"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if mode == "block":
            # A truly blocking fd (Python's settimeout() would make it non-blocking and poll); the shim bounds the
            # wait by its connect timeout, the test by its own.
            s.settimeout(None)
            try:
                s.connect((host, port))
                return "OK"
            except OSError as e:
                return errno.errorcode.get(e.errno, str(e.errno))
        s.setblocking(False)
        rc = s.connect_ex((host, port))
        if rc == 0:
            return "OK"
        if rc != errno.EINPROGRESS:
            return errno.errorcode.get(rc, str(rc)) + " (immediate)"
        p = select.poll()
        p.register(s, select.POLLOUT)
        if not p.poll(30000):
            return "TIMEOUT(poll)"
        if mode == "nonblock":
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            return "OK" if err == 0 else errno.errorcode.get(err, str(err))
        rc = s.connect_ex((host, port))  # hiredis style
        if rc in (0, errno.EISCONN):
            return "OK"
        return errno.errorcode.get(rc, str(rc))
    finally:
        s.close()


async def _hash_conn(reader, writer):
    h = hashlib.sha256()
    while True:
        b = await reader.read(65536)
        if not b:
            break
        h.update(b)
    writer.write(h.hexdigest().encode() + b"\n")
    await writer.drain()
    writer.close()


async def hashserver(port):
    srv = await asyncio.start_server(_hash_conn, "0.0.0.0", port, backlog=4096)
    async with srv:
        await srv.serve_forever()


async def hashclient(host, port, count, maxsize, timeout):
    sem_fail = []

    async def one(i):
        data = os.urandom(1 + int.from_bytes(os.urandom(4), "big") % maxsize)
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(data)
            await writer.drain()
            writer.write_eof()
            got = (await reader.read(100)).strip().decode()
            writer.close()
            if got != hashlib.sha256(data).hexdigest():
                sem_fail.append(f"{i}: digest mismatch ({len(data)} bytes, got {got!r})")
        except OSError as e:
            sem_fail.append(f"{i}: {e!r}")

    t0 = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), timeout)
    except asyncio.TimeoutError:
        return f"FAIL timeout after {timeout}s, {len(sem_fail)} failures so far"
    if sem_fail:
        return f"FAIL {len(sem_fail)} of {count}: " + "; ".join(sem_fail[:5])
    return f"OK {count} in {time.monotonic() - t0:.1f}s"


async def _echo_conn(reader, writer):
    peer = writer.get_extra_info("peername")
    print(f"PEER {peer[0]} {peer[1]}", flush=True)
    while True:
        b = await reader.read(65536)
        if not b:
            break
        writer.write(b)
        await writer.drain()
    writer.close()


async def aserver(port):
    srv = await asyncio.start_server(_echo_conn, "0.0.0.0", port)
    async with srv:
        await srv.serve_forever()


async def aclient(host, port):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
    writer.write(b"hello uvpn\n")
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 30)
    local = writer.get_extra_info("sockname")
    writer.close()
    return f"OK {local[0]}" if line == b"hello uvpn\n" else f"FAIL echo {line!r}"


def hold(host, port, seconds):
    s = socket.create_connection((host, port), timeout=30)
    data = os.urandom(65536)
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        b = s.recv(65536)
        if not b:
            break
        got += b
    print("HOLDING" if got == data else "FAIL echo", flush=True)
    time.sleep(seconds)
    s.close()


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "probe":
        print(probe(args[0], int(args[1]), args[2] if len(args) > 2 else "block"), flush=True)
    elif cmd == "hashserver":
        asyncio.run(hashserver(int(args[0])))
    elif cmd == "hashclient":
        print(asyncio.run(hashclient(args[0], int(args[1]), int(args[2]), int(args[3]), float(args[4]))),
              flush=True)
    elif cmd == "aserver":
        asyncio.run(aserver(int(args[0])))
    elif cmd == "aclient":
        print(asyncio.run(aclient(args[0], int(args[1]))), flush=True)
    elif cmd == "hold":
        hold(args[0], int(args[1]), float(args[2]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
