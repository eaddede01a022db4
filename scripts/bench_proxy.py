#!/usr/bin/env python3
"""Proxy benchmark (issue 4): imapscope proxy against the same client talking to Dovecot directly.

Standard library only; must run as root (it starts a throwaway Dovecot through
scripts/dovecot_fixture.py). Everything is measured in one run, peers interleaved:

1. Bulk FETCH throughput. alice's INBOX gets --messages messages of --size bytes, written
   straight into the Maildir. One raw-socket client (4 MB recv_into buffer, byte counting only)
   sends `aN UID FETCH 1:* BODY.PEEK[]` and reads up to the tagged OK, in rounds interleaved
   direct, proxy, proxy --log, ... The client's own ceiling is measured too: a Python server that
   replays the exact bytes of a Dovecot response (recorded in the warm-up) as fast as the kernel
   takes them, first directly, then through a proxy in front of it (the proxy without Dovecot).
   Per round the CPU time of the client, of the proxy (all threads) and of Dovecot's imap
   processes is read from /proc/*/task/*/schedstat.
2. NOOP round trip: one logged-in connection per path, --noops sequential `aN NOOP`, in
   interleaved blocks of --block; p50/p99 per path and proxied - direct at p50 and p99.
3. Memory: a fresh proxy, then --idle concurrent sessions through it (LOGIN, SELECT INBOX,
   IDLE and stay); VmRSS/VmHWM of the proxy before, with all sessions idle, and after they
   closed. Every session must get its `+ idling`, and after DONE its tagged OK.

    python3 scripts/bench_proxy.py --binary .build-release/release/imapscope
    python3 scripts/bench_proxy.py --binary BIN --messages 200 --size 262144 --rounds 7 \\
        --noops 5000 --idle 500 --json /tmp/bench-proxy.json
    python3 scripts/bench_proxy.py --binary BIN --no-log      # skip the proxy --log variants

MB = 1,000,000 bytes. MB/s = bytes the client received for the FETCH (literals, response
lines and the tagged OK) divided by the time from sending the command to the last byte.
"""

import argparse
import base64
import concurrent.futures
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dovecot_fixture import Dovecot, USER, PASSWORD  # noqa: E402

HOST = "127.0.0.1"
FETCH_BUF = 4 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- messages --------------------------------------------------------------------------------
def bulk_message(i, size):
    """Message i: headers and a base64 "attachment" body (76-character CRLF lines), exactly size bytes."""
    head = ("Date: Mon, 15 Jan 2024 09:%02d:00 +0000\r\n"
            "From: Bob Example <bob@example.test>\r\n"
            "To: Alice Example <alice@example.test>\r\n"
            "Subject: Bulk message %d\r\n"
            "Message-ID: <bulk-%d@imapscope.test>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" % (i % 60, i, i)).encode()
    need = max(0, size - len(head))
    raw = random.Random(i).randbytes(need * 3 // 4 + 64)
    body = base64.encodebytes(raw).replace(b"\n", b"\r\n")[:need]
    if need >= 2:
        body = body[:-2] + b"\r\n"
    return head + body


def seed_bulk(dc, count, size):
    """Write count messages into alice's INBOX cur/ (UIDs 1..count in order); returns total bytes."""
    md = dc.maildir(USER)
    total = 0
    t0 = 1705309200
    for i in range(1, count + 1):
        data = bulk_message(i, size)
        ts = t0 + 60 * i
        name = "%d.M%06dP1Q%d.imapscope-bench,S=%d:2,S" % (ts, i, i, len(data))
        tmp = os.path.join(md, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666)
        os.utime(tmp, (ts, ts))
        os.rename(tmp, os.path.join(md, "cur", name))
        total += len(data)
    return total


# ---- a raw IMAP client ------------------------------------------------------------------------
class IMAPError(RuntimeError):
    pass


class Conn:
    """A minimal IMAP client on a plain socket: lines up to a tag, and a byte-counting FETCH."""

    def __init__(self, port, timeout=60):
        self.s = socket.create_connection((HOST, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.n = 0
        self.greeting = self._line()
        if not self.greeting.startswith(b"* OK"):
            raise IMAPError("greeting: %r" % self.greeting[:200])

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise IMAPError("connection closed (buffer %r)" % self.buf[-200:])
        self.buf += d

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def tag(self):
        self.n += 1
        return b"a%d" % self.n

    def send(self, data):
        self.s.sendall(data)

    def until_tag(self, tag):
        """Read lines until the tagged response; returns it (without CRLF)."""
        pre = tag + b" "
        while True:
            # fast path: the tagged line is at the start or after a CRLF in the buffer
            if self.buf.startswith(pre):
                j = self.buf.find(b"\r\n")
                if j >= 0:
                    line, self.buf = self.buf[:j], self.buf[j + 2:]
                    return line
            else:
                i = self.buf.find(b"\r\n" + pre)
                if i >= 0:
                    j = self.buf.find(b"\r\n", i + 2)
                    if j >= 0:
                        line, self.buf = self.buf[i + 2:j], self.buf[j + 2:]
                        return line
            self._fill()

    def command(self, text, ok=True):
        t = self.tag()
        self.send(t + b" " + text + b"\r\n")
        line = self.until_tag(t)
        if ok and not line.startswith(t + b" OK"):
            raise IMAPError("%s: %r" % (text[:40], line[:200]))
        return line

    def login_select(self):
        self.command(b'LOGIN %s "%s"' % (USER.encode(), PASSWORD.encode()))
        self.command(b"SELECT INBOX")
        return self

    def noop(self):
        t = self.tag()
        self.send(t + b" NOOP\r\n")
        line = self.until_tag(t)
        if not line.startswith(t + b" OK"):
            raise IMAPError("NOOP: %r" % line[:200])

    def fetch_all(self, record=None):
        """`UID FETCH 1:* BODY.PEEK[]`, reading up to the tagged OK.

        Returns (bytes, seconds, bytes before the tagged line): Dovecot's tagged OK carries its
        own timings, so only the bytes before it are the same in every round.

        The response is not parsed: only its end is looked at (it must end in CRLF and its last
        line must be the tagged OK). With record (a bytearray) the whole response is kept."""
        assert not self.buf
        t = self.tag()
        pre = t + b" "
        mv = memoryview(bytearray(FETCH_BUF))
        s = self.s
        total = 0
        tail = b""
        t0 = time.perf_counter()
        s.sendall(t + b" UID FETCH 1:* BODY.PEEK[]\r\n")
        while True:
            n = s.recv_into(mv)
            if n == 0:
                raise IMAPError("connection closed during FETCH after %d bytes" % total)
            total += n
            if record is not None:
                record += mv[:n]
            end = tail + bytes(mv[max(0, n - 512):n]) if n < 512 else bytes(mv[n - 512:n])
            if end.endswith(b"\r\n"):
                k = end.rfind(b"\r\n", 0, len(end) - 2)
                last = end[k + 2:-2] if k >= 0 else end[:-2]
                if last.startswith(pre):
                    elapsed = time.perf_counter() - t0
                    if not last.startswith(pre + b"OK"):
                        raise IMAPError("FETCH: %r" % last[:200])
                    return total, elapsed, total - len(last) - 2
            tail = end[-512:]


# ---- CPU and memory of other processes ------------------------------------------------------
def task_cpu_ns(pid):
    """CPU time (ns) of all threads of pid, from /proc/PID/task/*/schedstat."""
    total = 0
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def imap_processes_cpu_ns():
    """CPU time of every live Dovecot `imap` process (they serve the logged-in sessions)."""
    total = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % p) as f:
                if f.read().strip() != "imap":
                    continue
        except OSError:
            continue
        total += task_cpu_ns(int(p))
    return total


def proc_io(pid):
    """read/write syscalls and bytes of pid (all threads) from /proc/PID/io."""
    out = {}
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = int(v)
    except OSError:
        pass
    return out


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) if k != "Threads" else int(v)
    out["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    return out


# ---- the proxy under test ---------------------------------------------------------------------
class Proxy:
    def __init__(self, binary, upstream_port, ca_dir, log=None, name="proxy"):
        self.name = name
        self.log = log
        cmd = [binary, "proxy", "--listen", "imap://%s:0" % HOST,
               "--upstream", "imap://%s:%d" % (HOST, upstream_port), "--ca-dir", ca_dir]
        if log:
            cmd += ["--log", log]
        self.cmd = cmd
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        self.stderr = []
        self.port = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.p.stderr.readline()
            if not line:
                break
            self.stderr.append(line.decode(errors="replace"))
            m = re.search(r"listening on imap://[^ ]*:(\d+)", self.stderr[-1])
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.stop()
            raise RuntimeError("%s did not start: %s" % (" ".join(cmd), "".join(self.stderr)))
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self):
        for line in self.p.stderr:
            self.stderr.append(line.decode(errors="replace"))

    @property
    def pid(self):
        return self.p.pid

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                print("bench_proxy: %s ignored SIGINT for 15 s; killing it" % self.name, file=sys.stderr)
                self.p.kill()
                self.p.wait()
        return self.p.returncode


# ---- a trivial server: the client's ceiling --------------------------------------------------
BLASTER_CODE = r'''
import socket, sys, threading
body = open(sys.argv[1], "rb").read()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0)); ls.listen(64)
print(ls.getsockname()[1], flush=True)
def serve(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.sendall(b"* OK [CAPABILITY IMAP4rev1] blaster ready\r\n")
    buf = b""
    while True:
        d = c.recv(65536)
        if not d:
            return
        buf += d
        while b"\r\n" in buf:
            line, buf = buf.split(b"\r\n", 1)
            tag = line.split(b" ", 1)[0]
            if b" UID FETCH " in line:
                c.sendall(body)
                c.sendall(tag + b" OK Fetch completed.\r\n")
            elif line.upper().endswith(b" LOGOUT"):
                c.sendall(b"* BYE\r\n" + tag + b" OK Logout completed.\r\n"); c.close(); return
            else:
                c.sendall(tag + b" OK done.\r\n")
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'''


class Blaster:
    """Replays a recorded FETCH response (all but its tagged line) for every UID FETCH."""

    def __init__(self, body_path):
        self.p = subprocess.Popen([sys.executable, "-c", BLASTER_CODE, body_path],
                                  stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.port = int(self.p.stdout.readline())

    def stop(self):
        self.p.terminate()
        self.p.wait()


# ---- statistics --------------------------------------------------------------------------------
def pct(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


# ---- 1. bulk FETCH ------------------------------------------------------------------------
def bench_fetch(args, paths, tmp, binary, ca_dir, proxies):
    """paths: list of (name, port, Proxy or None). Returns {name: result}."""
    conns = {name: Conn(port).login_select() for name, port, _ in paths}
    # warm-up: one FETCH per path (page cache, Dovecot's index and cache files, proxy buffers);
    # the direct one is recorded for the replaying server.
    record = bytearray()
    for name, _, _ in paths:
        conns[name].fetch_all(record if name == "direct" else None)
    body_path = os.path.join(tmp, "fetch-response.bin")
    with open(body_path, "wb") as f:
        f.write(record[:record.rfind(b"\r\n", 0, len(record) - 2) + 2])  # all but the tagged OK
    del record
    res = {}
    expected = [os.path.getsize(body_path)]

    def one(name, proxy, conn, imap=True):
        c0 = time.process_time_ns()
        p0 = task_cpu_ns(proxy.pid) if proxy else 0
        i0 = imap_processes_cpu_ns() if imap else 0
        io0 = proc_io(proxy.pid) if proxy else {}
        n, sec, untagged = conn.fetch_all()
        io1 = proc_io(proxy.pid) if proxy else {}
        c1 = time.process_time_ns()
        p1 = task_cpu_ns(proxy.pid) if proxy else 0
        i1 = imap_processes_cpu_ns() if imap else 0
        r = res.setdefault(name, {"bytes": n, "untagged_bytes": untagged, "mbps": [], "cpu_client_ms": [],
                                  "cpu_proxy_ms": [], "cpu_imap_ms": [], "proxy_read_syscalls": [],
                                  "proxy_write_syscalls": []})
        if proxy:
            r["proxy_read_syscalls"].append(io1.get("syscr", 0) - io0.get("syscr", 0))
            r["proxy_write_syscalls"].append(io1.get("syscw", 0) - io0.get("syscw", 0))
        if r["untagged_bytes"] != untagged or untagged != expected[0]:
            raise IMAPError("%s: FETCH returned %d bytes before the tagged OK, expected %d"
                            % (name, untagged, expected[0]))
        r["mbps"].append(n / 1e6 / sec)
        r["cpu_client_ms"].append((c1 - c0) / 1e6)
        r["cpu_proxy_ms"].append((p1 - p0) / 1e6)
        r["cpu_imap_ms"].append((i1 - i0) / 1e6)

    def rounds(paths, conns, imap):
        for rnd in range(args.rounds):
            for name, _, proxy in paths:
                one(name, proxy, conns[name], imap)
            print("   round %d/%d: %s" % (rnd + 1, args.rounds, ", ".join(
                "%s %.0f MB/s" % (n, res[n]["mbps"][-1]) for n, _, _ in paths)), file=sys.stderr)

    rounds(paths, conns, True)
    for c in conns.values():
        c.close()
    if args.ceiling:
        # The client's ceiling: the same bytes from a server that only calls sendall; and a proxy
        # in front of that server (the proxy's own rate, without Dovecot sharing the CPUs).
        blaster = Blaster(body_path)
        bproxy = None
        try:
            bproxy = Proxy(binary, blaster.port, ca_dir, name="proxy (replaying upstream)")
            proxies.append(bproxy)
            bpaths = [("client ceiling", blaster.port, None), ("proxy, replaying upstream", bproxy.port, bproxy)]
            bconns = {name: Conn(port).login_select() for name, port, _ in bpaths}
            for c in bconns.values():
                c.fetch_all()  # warm-up
            rounds(bpaths, bconns, False)
            for c in bconns.values():
                c.close()
        finally:
            if bproxy:
                bproxy.stop()
            blaster.stop()
    os.unlink(body_path)
    for r in res.values():
        for k in ("mbps", "cpu_client_ms", "cpu_proxy_ms", "cpu_imap_ms", "proxy_read_syscalls",
                  "proxy_write_syscalls"):
            r[k + "_median"] = statistics.median(r[k]) if r[k] else None
    return res


# ---- 2. NOOP latency ---------------------------------------------------------------------
def bench_noop(args, paths):
    conns = {name: Conn(port).login_select() for name, port, _ in paths}
    lat = {name: [] for name, _, _ in paths}
    for name, _, _ in paths:          # warm-up
        for _ in range(200):
            conns[name].noop()
    per_block = max(1, args.block)
    blocks = max(1, (args.noops + per_block - 1) // per_block)
    pc = time.perf_counter_ns
    for b in range(blocks):
        k = min(per_block, args.noops - b * per_block)
        for name, _, _ in paths:
            c = conns[name]
            out = lat[name]
            for _ in range(k):
                t0 = pc()
                c.noop()
                out.append(pc() - t0)
    for c in conns.values():
        c.close()
    res = {}
    for name, v in lat.items():
        v.sort()
        res[name] = {"n": len(v), "p50_ms": pct(v, 50) / 1e6, "p90_ms": pct(v, 90) / 1e6,
                     "p99_ms": pct(v, 99) / 1e6, "max_ms": v[-1] / 1e6,
                     "mean_ms": sum(v) / len(v) / 1e6}
    return res


# ---- 3. memory with idle sessions --------------------------------------------------------
def open_idle(port):
    c = Conn(port, timeout=120)
    c.login_select()
    t = c.tag()
    c.send(t + b" IDLE\r\n")
    line = c._line()
    if not line.startswith(b"+"):
        raise IMAPError("IDLE: %r" % line[:200])
    c.idle_tag = t
    return c


def end_idle(c):
    c.send(b"DONE\r\n")
    line = c.until_tag(c.idle_tag)
    ok = line.startswith(c.idle_tag + b" OK")
    c.command(b"LOGOUT", ok=False)
    c.close()
    return ok


def bench_memory(args, binary, upstream, ca_dir, log=None, name="proxy"):
    proxy = Proxy(binary, upstream, ca_dir, log=log, name=name)
    try:
        time.sleep(1.0)
        before = proc_status(proxy.pid)
        # one session opened and closed first, so that lazily built state (CA leaf cache,
        # allocator arenas) is not counted as per-session cost
        c = Conn(proxy.port).login_select()
        c.command(b"LOGOUT", ok=False)
        c.close()
        time.sleep(0.5)
        after_one = proc_status(proxy.pid)
        t0 = time.monotonic()
        conns, errors = [], []
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
            futs = [ex.submit(open_idle, proxy.port) for _ in range(args.idle)]
            for f in futs:
                try:
                    conns.append(f.result())
                except Exception as e:  # noqa: BLE001 - report every failure
                    errors.append(repr(e))
        open_s = time.monotonic() - t0
        time.sleep(2.0)
        at_idle = proc_status(proxy.pid)
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
            oks = list(ex.map(lambda c: _safe_end(c, errors), conns))
        time.sleep(2.0)
        after_close = proc_status(proxy.pid)
        alive = proxy.p.poll() is None
    finally:
        rc = proxy.stop()
    ok_sessions = sum(1 for o in oks if o)
    return {"sessions_requested": args.idle, "sessions_idle": len(conns), "sessions_ok": ok_sessions,
            "errors": errors[:10], "error_count": len(errors), "open_seconds": open_s,
            "before": before, "after_one_session": after_one, "at_idle": at_idle, "after_close": after_close,
            "per_session_kb": (at_idle["VmRSS"] - before["VmRSS"]) / max(1, len(conns)),
            "per_session_kb_after_one": (at_idle["VmRSS"] - after_one["VmRSS"]) / max(1, len(conns)),
            "proxy_alive": alive, "proxy_exit": rc, "proxy_stderr": proxy.stderr[-5:]}


def _safe_end(c, errors):
    try:
        return end_idle(c)
    except Exception as e:  # noqa: BLE001
        errors.append(repr(e))
        c.close()
        return False


# ---- main ----------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--binary", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "..", ".build", "release", "imapscope"))
    ap.add_argument("--messages", type=int, default=200, help="bulk messages in INBOX (200)")
    ap.add_argument("--size", type=int, default=256 * 1024, help="bytes per message (262144)")
    ap.add_argument("--rounds", type=int, default=7, help="FETCH rounds per path (7)")
    ap.add_argument("--noops", type=int, default=5000, help="NOOP round trips per path (5000)")
    ap.add_argument("--block", type=int, default=250, help="NOOPs per interleaved block (250)")
    ap.add_argument("--idle", type=int, default=500, help="concurrent idle sessions (500)")
    ap.add_argument("--log", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure a proxy writing --log JSON Lines to a file (default: yes)")
    ap.add_argument("--ceiling", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure the client's ceiling with a replaying server (default: yes)")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    ap.add_argument("--only", choices=["fetch", "noop", "memory"], action="append",
                    help="run only this part (repeatable)")
    args = ap.parse_args(argv)
    parts = set(args.only or ["fetch", "noop", "memory"])
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        sys.exit("bench_proxy: no executable at %s (swift build -c release --product imapscope)" % binary)
    # the proxy needs two descriptors per session, this process one per idle session
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * args.idle + 256))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    tmp = tempfile.mkdtemp(prefix="imapscope-bench-proxy-")
    ca_dir = os.path.join(tmp, "ca")
    results = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cores": os.cpu_count(),
               "binary": binary, "argv": sys.argv, "loadavg_start": loadavg(),
               "messages": args.messages, "size": args.size, "rounds": args.rounds,
               "noops": args.noops, "idle": args.idle, "nofile_limit": want}
    proxies = []
    try:
        with Dovecot() as dc:
            results["dovecot"] = dc.version
            t0 = time.monotonic()
            mailbox = seed_bulk(dc, args.messages, args.size)
            results["mailbox_bytes"] = mailbox
            print("== seeded %d messages, %.1f MB, in %.1f s" % (args.messages, mailbox / 1e6, time.monotonic() - t0),
                  file=sys.stderr)
            plain = Proxy(binary, dc.imap_port, ca_dir, name="proxy")
            proxies.append(plain)
            paths = [("direct", dc.imap_port, None), ("proxy", plain.port, plain)]
            logged = None
            if args.log:
                log_path = os.path.join(tmp, "proxy-log.jsonl")
                logged = Proxy(binary, dc.imap_port, ca_dir, log=log_path, name="proxy --log")
                proxies.append(logged)
                paths.append(("proxy --log", logged.port, logged))
            if "fetch" in parts:
                print("== bulk FETCH: %d rounds of %s, interleaved" % (args.rounds, ", ".join(p[0] for p in paths)),
                      file=sys.stderr)
                res_fetch = bench_fetch(args, paths, tmp, binary, ca_dir, proxies)
                results["fetch"] = res_fetch
            if "noop" in parts:
                print("== NOOP: %d round trips per path in blocks of %d" % (args.noops, args.block), file=sys.stderr)
                results["noop"] = bench_noop(args, paths)
            for p in proxies:
                p.stop()
            if logged:
                results["log_file_bytes"] = os.path.getsize(log_path)
                with open(log_path, "rb") as f:
                    results["log_file_lines"] = sum(1 for _ in f)
            if "memory" in parts:
                print("== memory: %d idle sessions through a fresh proxy" % args.idle, file=sys.stderr)
                results["memory"] = {"proxy": bench_memory(args, binary, dc.imap_port, ca_dir)}
                if args.log:
                    results["memory"]["proxy --log"] = bench_memory(
                        args, binary, dc.imap_port, ca_dir, log=os.path.join(tmp, "memory-log.jsonl"),
                        name="proxy --log")
    finally:
        for p in proxies:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    results["loadavg_end"] = loadavg()
    report(results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print("results written to %s" % args.json)
    return 0 if results.get("ok", True) else 1   # 1: some idle session failed (not: a goal missed)


# ---- report ------------------------------------------------------------------------------------
def report(r, args):
    ok = True
    print()
    print("imapscope proxy benchmark (%s, %d cores, Dovecot %s, load average %s at start, %s at end)"
          % (r["date"][:16] + "Z", r["cores"], r.get("dovecot", "?").split()[0], r["loadavg_start"], r["loadavg_end"]))
    print("MB = 1,000,000 bytes; one run, paths interleaved; %s" % r["binary"])
    verdicts = []
    if "fetch" in r:
        f = r["fetch"]
        print()
        print("bulk FETCH: a UID FETCH 1:* BODY.PEEK[] of %d messages x %d bytes (%.1f MB response), %d rounds per path"
              % (args.messages, args.size, f["direct"]["bytes"] / 1e6, args.rounds))
        print("%-28s %8s %8s %8s %8s   %s" % ("path", "MB/s", "min", "max", "ratio", "CPU ms per FETCH (median): client / proxy / imap"))
        base = f["direct"]["mbps_median"]
        for name, v in f.items():
            ratio = ""
            if name.startswith("proxy") and not name.startswith("proxy,"):
                ratio = "%.3f" % (v["mbps_median"] / base)
                v["ratio"] = v["mbps_median"] / base
            elif name == "proxy, replaying upstream":
                ceil = f["client ceiling"]["mbps_median"]
                ratio = "%.3f*" % (v["mbps_median"] / ceil)
                v["ratio_to_ceiling"] = v["mbps_median"] / ceil
            elif name == "direct":
                ratio = "1"
            print("%-28s %8.1f %8.1f %8.1f %8s   %6.0f / %6.0f / %6.0f" % (
                name, v["mbps_median"], min(v["mbps"]), max(v["mbps"]), ratio,
                v["cpu_client_ms_median"], v["cpu_proxy_ms_median"], v["cpu_imap_ms_median"]))
        if "client ceiling" in f:
            print("client ceiling = the same client reading the recorded Dovecot response replayed by a trivial Python")
            print("server (sendall); * = ratio to the client ceiling.")
        print("every path returned the same %d bytes before its tagged OK in every round" % f["direct"]["untagged_bytes"])
        for name, v in f.items():
            if v["proxy_read_syscalls_median"]:
                print("%s: %d read and %d write syscalls per FETCH (median, /proc/PID/io), %.1f kB relayed per read"
                      % (name, v["proxy_read_syscalls_median"], v["proxy_write_syscalls_median"],
                         v["bytes"] / v["proxy_read_syscalls_median"] / 1e3))
        if "log_file_bytes" in r:
            print("proxy --log wrote %d JSON lines, %.2f MB, in the FETCH and NOOP parts" % (
                r["log_file_lines"], r["log_file_bytes"] / 1e6))
        ratio = f["proxy"]["ratio"]
        met = ratio >= 0.9
        verdicts.append("FETCH throughput: proxy/direct %.3f (goal >= 0.9): %s" % (ratio, "met" if met else "NOT MET"))
        if "proxy --log" in f:
            rl = f["proxy --log"]["ratio"]
            verdicts.append("FETCH throughput with --log: proxy/direct %.3f (goal >= 0.9): %s"
                            % (rl, "met" if rl >= 0.9 else "NOT MET"))
    if "noop" in r:
        n = r["noop"]
        print()
        print("NOOP round trip: one logged-in connection per path, %d sequential NOOPs each, interleaved blocks of %d"
              % (args.noops, args.block))
        print("%-28s %9s %9s %9s %9s %12s %12s" % ("path", "p50 ms", "p90 ms", "p99 ms", "max ms", "added p50", "added p99"))
        d = n["direct"]
        for name, v in n.items():
            add50 = add99 = ""
            if name != "direct":
                v["added_p50_ms"] = v["p50_ms"] - d["p50_ms"]
                v["added_p99_ms"] = v["p99_ms"] - d["p99_ms"]
                add50, add99 = "%+.3f" % v["added_p50_ms"], "%+.3f" % v["added_p99_ms"]
            print("%-28s %9.3f %9.3f %9.3f %9.3f %12s %12s" % (name, v["p50_ms"], v["p90_ms"], v["p99_ms"], v["max_ms"], add50, add99))
        print("added = proxied percentile - direct percentile")
        a = n["proxy"]["added_p50_ms"]
        met = a < 0.3
        verdicts.append("NOOP added latency at p50: %.3f ms (p99 %+.3f ms) (goal < 0.3 ms at p50): %s"
                        % (a, n["proxy"]["added_p99_ms"], "met" if met else "NOT MET"))
        if "proxy --log" in n:
            al = n["proxy --log"]["added_p50_ms"]
            verdicts.append("NOOP added latency at p50 with --log: %.3f ms (goal < 0.3 ms): %s"
                            % (al, "met" if al < 0.3 else "NOT MET"))
    if "memory" in r:
        print()
        print("memory: %d concurrent sessions through a fresh proxy, each LOGIN, SELECT INBOX, IDLE (held 2 s)" % args.idle)
        print("%-16s %10s %10s %10s %10s %10s %12s %8s" % ("proxy", "start", "1 session", "all idle", "HWM", "closed",
                                                              "per session", "ok"))
        for name, m in r["memory"].items():
            print("%-16s %7.1f MB %7.1f MB %7.1f MB %7.1f MB %7.1f MB %9.1f kB %4d/%d" % (
                name, m["before"]["VmRSS"] / 1024, m["after_one_session"]["VmRSS"] / 1024,
                m["at_idle"]["VmRSS"] / 1024, m["at_idle"]["VmHWM"] / 1024, m["after_close"]["VmRSS"] / 1024,
                m["per_session_kb"], m["sessions_ok"], m["sessions_requested"]))
            if m["error_count"]:
                print("   %d errors, e.g. %s" % (m["error_count"], m["errors"][:3]))
        m = r["memory"]["proxy"]
        print("VmRSS from /proc/PID/status; per session = (all idle - start) / sessions (%.1f kB from the 1-session "
              "figure); %d fds and %d threads "
              "at idle; opening took %.1f s" % (m["per_session_kb_after_one"], m["at_idle"]["fds"], m["at_idle"]["Threads"], m["open_seconds"]))
        worked = m["sessions_ok"] == m["sessions_requested"]
        verdicts.append("memory: %.1f MB RSS with %d idle sessions (%.1f kB per session); %d/%d sessions got their "
                        "tagged OKs: %s" % (m["at_idle"]["VmRSS"] / 1024, m["sessions_idle"], m["per_session_kb"],
                                            m["sessions_ok"], m["sessions_requested"],
                                            "all worked" if worked else "NOT ALL WORKED"))
        ok &= worked
    print()
    for v in verdicts:
        print("verdict: " + v)
    r["verdicts"] = verdicts
    r["ok"] = bool(ok)


if __name__ == "__main__":
    sys.exit(main())
