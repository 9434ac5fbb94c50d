#!/usr/bin/python3
"""streamcheck: many checksummed TCP byte streams in both directions at once, every byte verified.

Theory of operation:
  The content of a stream is a pure function of (stream id, direction, offset): block k (16 KiB) of direction d of
  stream s is shake_128("uvpn-sc s d k"). A receiver knows which offset it is at, so it compares every byte it reads
  against what must be at that offset: a lost, duplicated, reordered or corrupted byte is a mismatch at a precise
  offset (classified as "dup" or "loss" when the bytes found are those of an earlier or later offset), a missing
  tail is an early EOF, an extra tail is an overrun. Both ends count and verify.

  client HOST PORT --streams N --bytes M [--down M] [--rate B/s] [--timeout S] [--first-id K]
      opens N connections (asyncio); each starts with a 36-byte header (magic "SCHK", version, stream id, bytes
      client->server, bytes server->client, rate), then sends its bytes paced at --rate (a schedule from the
      start, so a stall is caught up afterwards), half-closes, and verifies what comes back until EOF. Prints one
      JSON report on stdout (totals, per-stream counts, errors, the longest receive stall) and exits 0 only if
      every stream is complete and exact both ways.
  server PORT [--conns N]
      for each connection: reads the header, then verifies the client's stream while sending its own back at the
      same rate, half-closes after it; prints one JSON line per finished connection ({"sid", "recv", "sent",
      "error", ...}); with --conns exits after N connections with a summary line {"summary": ...}.
  On an error a side aborts its connection (RST), so the other side sees it too.
"""

import argparse
import asyncio
import errno
import hashlib
import json
import socket
import struct
import sys
import time

BLOCK = 16384
MAGIC = b"SCHK"
HEADER = struct.Struct("!4sIQQQI")  # magic, version, sid, up bytes, down bytes, rate
VERSION = 1


class Pattern:
    """The expected bytes of one direction of one stream. Caches the last two blocks (reads are sequential)."""

    def __init__(self, sid, direction):
        self.prefix = b"uvpn-sc %d %s " % (sid, direction)
        self.cache = {}

    def block(self, k):
        b = self.cache.get(k)
        if b is None:
            if len(self.cache) > 2:
                self.cache.clear()
            b = self.cache[k] = hashlib.shake_128(self.prefix + str(k).encode()).digest(BLOCK)
        return b

    def get(self, off, n):
        """Bytes [off, off+n)."""
        out = []
        while n > 0:
            k, i = divmod(off, BLOCK)
            take = min(n, BLOCK - i)
            out.append(self.block(k)[i:i + take])
            off += take
            n -= take
        return b"".join(out)


def errname(e):
    if isinstance(e, asyncio.IncompleteReadError):
        return "EOF in header"
    if isinstance(e, asyncio.TimeoutError):
        return "timeout"
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e.errno))
    return f"{type(e).__name__}: {e}"


def classify(pat, off, data):
    """Describes a mismatch of `data` (received at `off`): finds where its bytes really belong, near `off`."""
    probe = data[:64]
    lo = max(0, off - (4 << 20))
    window = pat.get(lo, (8 << 20) + len(probe))
    at = window.find(probe)
    if at >= 0:
        real = lo + at
        kind = "dup" if real < off else "loss"
        return f"mismatch at offset {off} ({kind}: bytes of offset {real})"
    return f"mismatch at offset {off} (bytes not from this stream near there)"


class Receiver:
    """Verifies one direction as it arrives."""

    def __init__(self, sid, direction, expect):
        self.pat = Pattern(sid, direction)
        self.expect = expect
        self.got = 0
        self.last = time.monotonic()
        self.max_stall = 0.0

    def feed(self, data):
        """Returns an error string or None."""
        now = time.monotonic()
        self.max_stall = max(self.max_stall, now - self.last)
        self.last = now
        if self.got + len(data) > self.expect:
            return f"overrun: {self.got + len(data)} bytes, expected {self.expect}"
        want = self.pat.get(self.got, len(data))
        if data != want:
            i = next(j for j in range(len(data)) if data[j] != want[j])
            return classify(self.pat, self.got + i, data[i:])
        self.got += len(data)
        return None

    def at_eof(self):
        if self.got != self.expect:
            return f"EOF after {self.got} of {self.expect} bytes"
        return None


async def receive(reader, rx):
    while True:
        data = await reader.read(65536)
        if not data:
            return rx.at_eof()
        err = rx.feed(data)
        if err:
            return err


async def send(writer, sid, direction, total, rate, state):
    """Sends `total` bytes paced at `rate` B/s from the start (stalls are caught up), then half-closes."""
    pat = Pattern(sid, direction)
    chunk = max(1024, min(16384, rate // 10)) if rate else 65536
    t0 = time.monotonic()
    while state["sent"] < total:
        sent = state["sent"]
        if rate:
            due = int(rate * (time.monotonic() - t0)) - sent
            if due < chunk and total - sent > due:
                await asyncio.sleep((chunk - due) / rate)
                continue
            n = min(max(due, chunk), 65536, total - sent)
        else:
            n = min(65536, total - sent)
        writer.write(pat.get(sent, n))
        state["sent"] = sent + n
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()
    return None


async def both_ways(reader, writer, sid, send_dir, send_total, recv_dir, recv_total, rate, res):
    """Runs send and receive concurrently; fills res (sent, recv, error, max_stall). Aborts on error."""
    rx = Receiver(sid, recv_dir, recv_total)
    state = {"sent": 0}
    tx = asyncio.ensure_future(send(writer, sid, send_dir, send_total, rate, state))
    err = None
    try:
        err = await receive(reader, rx)
        if err is None:
            err = await tx
    except Exception as e:  # noqa: BLE001 -- the report names any failure
        err = errname(e)
    finally:
        if not tx.done():
            tx.cancel()
        if tx.done() and not tx.cancelled() and tx.exception() is not None and err is None:
            err = errname(tx.exception())
        res.update(sent=state["sent"], recv=rx.got, error=err, max_stall=round(rx.max_stall, 2))
        if err:
            writer.transport.abort()
        else:
            writer.close()


async def client(args):
    t_start = time.monotonic()
    results = [{"sid": args.first_id + i, "sent": 0, "recv": 0, "error": "not started", "max_stall": 0.0}
               for i in range(args.streams)]
    down = args.bytes if args.down is None else args.down

    async def one(i):
        res = results[i]
        sid = res["sid"]
        try:
            reader, writer = await asyncio.open_connection(args.host, args.port)
        except OSError as e:
            res["error"] = "connect: " + errname(e)
            res["t_end"] = round(time.monotonic() - t_start, 2)
            res["t_end_wall"] = time.time()
            return
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        writer.write(HEADER.pack(MAGIC, VERSION, sid, args.bytes, down, args.rate))
        await both_ways(reader, writer, sid, b"u", args.bytes, b"d", down, args.rate, res)
        res["t_end"] = round(time.monotonic() - t_start, 2)
        res["t_end_wall"] = time.time()

    tasks = [asyncio.ensure_future(one(i)) for i in range(args.streams)]
    _, pending = await asyncio.wait(tasks, timeout=args.timeout)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for i, t in enumerate(tasks):
        if t in pending:
            results[i]["error"] = f"timeout after {args.timeout}s"
    errors = {r["sid"]: r["error"] for r in results if r["error"]}
    report = {"streams": args.streams, "ok": args.streams - len(errors), "failed": len(errors),
              "bytes_each": args.bytes, "down_each": down,
              "sent": sum(r["sent"] for r in results), "recv": sum(r["recv"] for r in results),
              "max_stall": max((r["max_stall"] for r in results), default=0.0),
              "elapsed": round(time.monotonic() - t_start, 2), "errors": errors, "per_stream": results}
    print(json.dumps(report), flush=True)
    return 0 if not errors else 1


async def server(args):
    done = []
    finished = asyncio.Event()

    async def conn(reader, writer):
        res = {"sid": None, "sent": 0, "recv": 0, "error": None}
        try:
            magic, version, sid, up, down, rate = HEADER.unpack(await reader.readexactly(HEADER.size))
            if magic != MAGIC or version != VERSION:
                raise ValueError(f"bad header {magic!r} v{version}")
            res.update(sid=sid, expect_recv=up, expect_sent=down)
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await both_ways(reader, writer, sid, b"d", down, b"u", up, rate, res)
        except Exception as e:  # noqa: BLE001
            res["error"] = errname(e)
            writer.transport.abort()
        res["t_end_wall"] = time.time()
        print(json.dumps(res), flush=True)
        done.append(res)
        if args.conns and len(done) >= args.conns:
            finished.set()

    srv = await asyncio.start_server(conn, "0.0.0.0", args.port, backlog=4096)
    async with srv:
        await finished.wait()
    bad = [r for r in done if r["error"]]
    print(json.dumps({"summary": {"conns": len(done), "ok": len(done) - len(bad), "failed": len(bad),
                                  "recv": sum(r["recv"] for r in done), "sent": sum(r["sent"] for r in done)}}),
          flush=True)
    return 0 if not bad else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("client")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--streams", type=int, default=1)
    c.add_argument("--bytes", type=int, default=1 << 20, help="bytes client->server per stream")
    c.add_argument("--down", type=int, default=None, help="bytes server->client per stream (default --bytes)")
    c.add_argument("--rate", type=int, default=100000, help="bytes/s per stream and direction (0: unpaced)")
    c.add_argument("--timeout", type=float, default=600)
    c.add_argument("--first-id", type=int, default=0)
    s = sub.add_parser("server")
    s.add_argument("port", type=int)
    s.add_argument("--conns", type=int, default=0)
    args = ap.parse_args()
    try:
        rc = asyncio.run(client(args) if args.mode == "client" else server(args))
    except KeyboardInterrupt:
        rc = 130
    sys.exit(rc)


if __name__ == "__main__":
    main()
