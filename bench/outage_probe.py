#!/usr/bin/python3
"""Traffic ends for outage_bench.py: timestamped records (recovery time) and bulk streams (memory under load).

    outage_probe.py ts-recv PORT [--gap-ms 50] [--max-seconds 900]
    outage_probe.py ts-send HOST PORT [--interval-ms 1] [--max-seconds 900]
    outage_probe.py bulk-recv PORT --streams N [--max-seconds 900]
    outage_probe.py bulk-send HOST PORT --streams N [--max-seconds 900] [--drain-seconds 60]

Theory of operation: the bench runs these under `uvpn run` on two nodes of different sites, so every connection
crosses both routers and the WAN, and reads their stdout line by line while it cuts and restores the WAN. All
times are CLOCK_MONOTONIC nanoseconds (time.monotonic_ns), which every namespace of the host shares, so the bench
can compare them with the moment its own `restore` call returned.

- ts-send writes one 32-byte record (u64 sequence, u64 send time, 16 bytes of padding) every --interval-ms on one
  TCP_NODELAY connection, on an absolute schedule (a blocked send is caught up by sending the missed records at
  once). SIGTERM ends it cleanly: shutdown(SHUT_WR), wait (bounded) for the receiver's EOF, print `SENT n`. A
  failed send prints `ERROR <errno name> sent=n` and exits 1.
- ts-recv accepts one connection and checks that the sequence numbers arrive exactly once and in order. Whenever
  two consecutive arrivals are more than --gap-ms apart it prints `GAP <last arrival> <this arrival> <seq>
  <send time of seq>` at once, so the bench sees the end of an outage live, and `T <now> <records>` every second
  (so a flow that never stopped is told from one still stalled). At the end: `END ok records=n` or
  `END error=<errno name>|seq|timeout records=n`.
- bulk-send opens N connections, sends each an 8-byte stream id and then a per-stream pseudo-random pattern as
  fast as the kernel takes it (non-blocking, one selector). SIGTERM (or --max-seconds) stops the sending; each
  stream is then half-closed, and the receiver answers with the byte count it received and verified. One JSON
  line at the end: sent and confirmed bytes per stream, errors, and `complete` (streams whose confirmed count
  equals the sent count).
- bulk-recv accepts N connections, checks every byte against the stream's pattern (bytes.startswith at an offset:
  a memcmp, no copy), prints `P <now> <total bytes>` every 200 ms for the bench's plot, answers each EOF with
  the 8-byte count (0xffff.. if a byte was wrong) and ends when all N are done.

Every loop is bounded by --max-seconds; nothing here retries a connection (a reset is the measurement).
"""

import argparse
import errno
import json
import random
import selectors
import signal
import socket
import struct
import sys
import time

REC = struct.Struct("<QQ16x")  # seq, send time (ns), padding: 32 bytes
PATTERN_LEN = (1 << 20) + 7   # not a power of two: a shifted or repeated block does not match by accident
CHUNK = 256 * 1024
BAD = (1 << 64) - 1

_stop = False


def _on_term(signum, frame):
    global _stop
    _stop = True


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e, OSError) and e.errno else type(e).__name__


def listen(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(256)
    return s


def pattern(stream_id):
    """Twice the stream's pattern, so any slice of up to PATTERN_LEN bytes at offset % PATTERN_LEN is contiguous."""
    p = random.Random(stream_id * 7919 + 1).randbytes(PATTERN_LEN)
    return p + p


# --- timestamped records -----------------------------------------------------------------------------------
def ts_recv(a):
    srv = listen(a.port)
    srv.settimeout(a.max_seconds)
    conn, _ = srv.accept()
    srv.close()
    deadline = time.monotonic() + a.max_seconds
    gap_ns = int(a.gap_ms * 1e6)
    buf = bytearray()
    expect = 0
    last = time.monotonic_ns()
    status = "ok"
    next_t = time.monotonic() + 1
    while True:
        if time.monotonic() >= next_t:
            out(f"T {time.monotonic_ns()} {expect}")
            next_t = time.monotonic() + 1
        if time.monotonic() >= deadline:
            status = "error=timeout"
            break
        conn.settimeout(0.5)
        try:
            data = conn.recv(65536)
        except socket.timeout:
            continue
        except OSError as e:
            status = f"error={errname(e)}"
            break
        now = time.monotonic_ns()
        if not data:
            if buf:
                status = "error=partial-record"
            break
        buf += data
        n = len(buf) // REC.size
        if n == 0:
            continue
        first_seq, first_sent = REC.unpack_from(buf, 0)
        if now - last > gap_ns:
            out(f"GAP {last} {now} {first_seq} {first_sent}")
        last = now
        for i in range(n):
            seq, _ = REC.unpack_from(buf, i * REC.size)
            if seq != expect:
                out(f"SEQERR expected={expect} got={seq}")
                status = "error=seq"
                expect = seq
            expect += 1
        del buf[:n * REC.size]
    out(f"END {status} records={expect}")
    conn.close()
    return 0 if status == "ok" else 1


def ts_send(a):
    signal.signal(signal.SIGTERM, _on_term)
    s = socket.create_connection((a.host, a.port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(None)
    out("CONNECTED")
    interval = a.interval_ms / 1000.0
    start = time.monotonic()
    deadline = start + a.max_seconds
    seq = 0
    nxt = start
    try:
        while not _stop and time.monotonic() < deadline:
            now = time.monotonic()
            if now < nxt:
                time.sleep(nxt - now)
                continue
            due = min(1000, int((now - nxt) / interval) + 1)  # records owed since the last send
            batch = b"".join(REC.pack(seq + i, time.monotonic_ns()) for i in range(due))
            s.sendall(batch)
            seq += due
            nxt += due * interval
    except OSError as e:
        out(f"ERROR {errname(e)} sent={seq}")
        return 1
    try:
        s.shutdown(socket.SHUT_WR)
        s.settimeout(30)
        while s.recv(4096):
            pass
    except OSError as e:
        out(f"ERROR {errname(e)} at close sent={seq}")
        return 1
    out(f"SENT {seq}")
    return 0


# --- bulk streams ------------------------------------------------------------------------------------------
class RecvStream:
    def __init__(self, sock):
        self.sock, self.id, self.pat, self.got, self.bad, self.hdr = sock, None, None, 0, False, b""


def bulk_recv(a):
    srv = listen(a.port)
    srv.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, None)
    patterns = {}
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    accepted = done = 0
    total = 0
    results = {}
    deadline = time.monotonic() + a.max_seconds
    next_p = time.monotonic()
    while done < a.streams and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            if key.data is None:
                try:
                    c, _ = srv.accept()
                except BlockingIOError:
                    continue
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ, RecvStream(c))
                accepted += 1
                if accepted == a.streams:
                    sel.unregister(srv)
                continue
            st = key.data
            try:
                n = st.sock.recv_into(view)
            except BlockingIOError:
                continue
            except OSError as e:
                results[st.id] = {"id": st.id, "got": st.got, "error": errname(e)}
                sel.unregister(st.sock)
                st.sock.close()
                done += 1
                continue
            if n == 0:  # EOF: confirm what arrived intact
                st.sock.setblocking(True)
                st.sock.settimeout(10)
                try:
                    st.sock.sendall(struct.pack("<Q", BAD if st.bad else st.got))
                except OSError:
                    pass
                results[st.id] = {"id": st.id, "got": st.got, "bad": st.bad}
                sel.unregister(st.sock)
                st.sock.close()
                done += 1
                continue
            data = view[:n]
            if st.id is None:  # 8-byte stream id first
                need = 8 - len(st.hdr)
                st.hdr += bytes(data[:need])
                data = data[need:]
                if len(st.hdr) < 8:
                    continue
                st.id = struct.unpack("<Q", st.hdr)[0]
                if st.id not in patterns:
                    patterns[st.id] = pattern(st.id)
                st.pat = patterns[st.id]
            if len(data) and not st.bad and not st.pat.startswith(data, st.got % PATTERN_LEN):
                st.bad = True
                out(f"CORRUPT stream={st.id} at={st.got}")
            st.got += len(data)
            total += len(data)
        now = time.monotonic()
        if now >= next_p:
            out(f"P {time.monotonic_ns()} {total}")
            next_p = now + 0.2
    out("RESULT " + json.dumps({"accepted": accepted, "done": done, "total": total,
                                "streams": sorted(results.values(), key=lambda r: r["id"] or 0)}))
    return 0 if done == a.streams and all(not r.get("bad") and "error" not in r for r in results.values()) else 1


class SendStream:
    def __init__(self, sid, sock):
        self.id, self.sock, self.pat, self.off, self.error, self.confirmed = sid, sock, pattern(sid), 0, None, None
        self.head = memoryview(struct.pack("<Q", sid))
        self.view = memoryview(self.pat)


def bulk_send(a):
    signal.signal(signal.SIGTERM, _on_term)
    streams = []
    for i in range(a.streams):
        s = socket.create_connection((a.host, a.port), timeout=30)
        s.setblocking(False)
        streams.append(SendStream(i, s))
    out(f"CONNECTED {len(streams)}")
    sel = selectors.DefaultSelector()
    for st in streams:
        sel.register(st.sock, selectors.EVENT_WRITE, st)
    deadline = time.monotonic() + a.max_seconds
    live = len(streams)
    while not _stop and live and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            st = key.data
            try:
                if len(st.head):
                    st.head = st.head[st.sock.send(st.head):]
                    continue
                o = st.off % PATTERN_LEN
                st.off += st.sock.send(st.view[o:o + CHUNK])
            except BlockingIOError:
                continue
            except OSError as e:
                st.error = f"send: {errname(e)}"
                sel.unregister(st.sock)
                live -= 1
    sent_done = time.monotonic()
    # Half-close every healthy stream, then collect the receiver's 8-byte confirmations.
    for st in streams:
        if st.error is None:
            try:
                sel.unregister(st.sock)
                st.sock.shutdown(socket.SHUT_WR)
                sel.register(st.sock, selectors.EVENT_READ, st)
                st.reply = b""
            except OSError as e:
                st.error = f"shutdown: {errname(e)}"
    pending = sum(1 for st in streams if st.error is None)
    drain_deadline = time.monotonic() + a.drain_seconds
    while pending and time.monotonic() < drain_deadline:
        for key, _ in sel.select(timeout=0.2):
            st = key.data
            try:
                d = st.sock.recv(8 - len(st.reply))
            except BlockingIOError:
                continue
            except OSError as e:
                d, st.error = b"", f"confirm: {errname(e)}"
            if d:
                st.reply += d
                if len(st.reply) < 8:
                    continue
                st.confirmed = struct.unpack("<Q", st.reply)[0]
            elif st.error is None:
                st.error = "confirm: EOF without count"
            sel.unregister(st.sock)
            pending -= 1
    for st in streams:
        if st.error is None and st.confirmed is None:
            st.error = f"confirm: none within {a.drain_seconds}s"
        st.sock.close()
    complete = sum(1 for st in streams if st.error is None and st.confirmed == st.off)
    out("RESULT " + json.dumps({
        "streams": len(streams), "complete": complete, "sent_total": sum(st.off for st in streams),
        "drain_seconds": round(time.monotonic() - sent_done, 3),
        "errors": sorted({st.error for st in streams if st.error}),
        "mismatched": [{"id": st.id, "sent": st.off, "confirmed": st.confirmed} for st in streams
                       if st.error is None and st.confirmed != st.off][:10]}))
    return 0 if complete == len(streams) else 1


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ts-recv")
    p.add_argument("port", type=int)
    p.add_argument("--gap-ms", type=float, default=50)
    p = sub.add_parser("ts-send")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--interval-ms", type=float, default=1)
    p = sub.add_parser("bulk-recv")
    p.add_argument("port", type=int)
    p.add_argument("--streams", type=int, required=True)
    p = sub.add_parser("bulk-send")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--streams", type=int, required=True)
    p.add_argument("--drain-seconds", type=float, default=60)
    for p in sub.choices.values():
        p.add_argument("--max-seconds", type=float, default=900)
    a = ap.parse_args(argv)
    return {"ts-recv": ts_recv, "ts-send": ts_send, "bulk-recv": bulk_recv, "bulk-send": bulk_send}[a.cmd](a)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except OSError as e:
        out(f"ERROR {errname(e)} {e}")
        sys.exit(1)
