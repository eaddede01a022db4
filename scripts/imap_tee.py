#!/usr/bin/env python3
"""Loopback TCP relay that records an IMAP session as an S:/C: transcript.

Standard library only. Bytes are relayed both ways untouched; a copy of each
direction is cut into lines (up to and including LF, CR kept) and every
complete line is written as b"C: " + line or b"S: " + line, in the order the
lines complete. A line still pending when its direction closes is written
followed by b"\\r\\n". The first line of the file is

    # recorded by scripts/imap_tee.py: <scenario name>\\r\\n

Each direction's line is recorded *before* its bytes are forwarded, so a reply
can never be recorded ahead of the line that caused it.

One tee records one TCP connection (the first one accepted); later
connections are refused by closing them, and counted in `.refused`.

In-process use:

    tee = ImapTee(upstream_port, "Captures/x.transcript", "x").start()
    ... connect a client to 127.0.0.1:tee.port ...
    tee.close()          # waits for the session to end, then closes the file

CLI (records one connection, then exits):

    python3 scripts/imap_tee.py --upstream-port 143 --out x.transcript --name x
"""

import argparse
import socket
import sys
import threading

HEADER = b"# recorded by scripts/imap_tee.py: %s\r\n"


class _LineRecorder:
    """Buffers one direction's bytes and writes complete lines to the shared file."""

    def __init__(self, tee, prefix, keep_raw):
        self.tee = tee
        self.prefix = prefix
        self.pending = bytearray()
        self.bytes = 0
        self.raw = bytearray() if keep_raw else None

    def feed(self, data):
        self.bytes += len(data)
        if self.raw is not None:
            self.raw += data
        self.pending += data
        lines = []
        start = 0
        while True:
            nl = self.pending.find(b"\n", start)
            if nl < 0:
                break
            lines.append(bytes(self.pending[start:nl + 1]))
            start = nl + 1
        if start:
            del self.pending[:start]
        if lines:
            self.tee._write(self.prefix, lines)

    def finish(self):
        if self.pending:
            line = bytes(self.pending) + b"\r\n"
            self.pending.clear()
            self.tee._write(self.prefix, [line])


class ImapTee:
    def __init__(self, upstream_port, transcript_path, scenario,
                 upstream_host="127.0.0.1", listen_host="127.0.0.1", keep_raw=False):
        if upstream_host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("imap_tee only relays to loopback, not %r" % upstream_host)
        self.upstream = (upstream_host, upstream_port)
        self.listen_host = listen_host
        self.path = transcript_path
        self.scenario = scenario
        self.port = None
        self.refused = 0
        self.error = None
        self._lock = threading.Lock()
        self._file = None
        self._listener = None
        self._threads = []
        self._socks = []
        self._accepted = threading.Event()
        self._done = threading.Event()
        self._closed = False
        # keep_raw=True also keeps each direction's bytes (.client.raw, .server.raw)
        # so a caller can check the transcript against what was relayed.
        self.client = _LineRecorder(self, b"C: ", keep_raw)
        self.server = _LineRecorder(self, b"S: ", keep_raw)

    # -- public ------------------------------------------------------------

    def start(self):
        self._file = open(self.path, "wb")
        self._file.write(HEADER % self.scenario.encode("utf-8"))
        fam = socket.AF_INET6 if ":" in self.listen_host else socket.AF_INET
        self._listener = socket.socket(fam, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.listen_host, 0))
        self._listener.listen(4)
        self.port = self._listener.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name="tee-accept", daemon=True)
        t.start()
        self._accept_thread = t
        return self

    def wait(self, timeout=None):
        """Wait until the recorded connection has closed in both directions."""
        return self._done.wait(timeout)

    def close(self, timeout=10.0):
        """Wait (up to timeout) for the session to end, then tear down and close the file."""
        if self._closed:
            return
        if self._accepted.is_set():
            if not self._done.wait(timeout):
                print("imap_tee[%s]: session still open after %.0fs; closing it"
                      % (self.scenario, timeout), file=sys.stderr)
                for s in self._socks:
                    _quiet(s.shutdown, socket.SHUT_RDWR)
                self._done.wait(5)
        self._closed = True
        _quiet(self._listener.close)
        for s in self._socks:
            _quiet(s.close)
        for t in self._threads:
            t.join(5)
        self.client.finish()
        self.server.finish()
        with self._lock:
            self._file.close()
        if self.error:
            raise self.error

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    # -- internals ---------------------------------------------------------

    def _write(self, prefix, lines):
        with self._lock:
            if self._file.closed:
                return
            for line in lines:
                self._file.write(prefix)
                self._file.write(line)
            self._file.flush()

    def _accept_loop(self):
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if self._accepted.is_set():
                self.refused += 1
                print("imap_tee[%s]: refusing extra connection" % self.scenario,
                      file=sys.stderr)
                _quiet(conn.close)
                continue
            self._accepted.set()
            try:
                up = socket.create_connection(self.upstream, timeout=10)
                up.settimeout(None)
            except OSError as e:
                self.error = e
                _quiet(conn.close)
                self._done.set()
                continue
            for s in (conn, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._socks = [conn, up]
            remaining = [2]
            rlock = threading.Lock()

            def pump(src, dst, rec, name):
                try:
                    while True:
                        try:
                            data = src.recv(65536)
                        except OSError:
                            data = b""
                        if not data:
                            break
                        rec.feed(data)          # record first ...
                        try:
                            dst.sendall(data)   # ... then relay, untouched
                        except OSError:
                            break
                finally:
                    rec.finish()
                    _quiet(dst.shutdown, socket.SHUT_WR)
                    with rlock:
                        remaining[0] -= 1
                        if remaining[0] == 0:
                            self._done.set()

            for src, dst, rec, name in ((conn, up, self.client, "c2s"),
                                        (up, conn, self.server, "s2c")):
                t = threading.Thread(target=pump, args=(src, dst, rec, name),
                                     name="tee-" + name, daemon=True)
                t.start()
                self._threads.append(t)


def read_transcript(path):
    """Parse a transcript back into (scenario, client_bytes, server_bytes).

    Inverse of the recording, except that a line pending at close carries the
    b"\r\n" the recorder appended.
    """
    with open(path, "rb") as f:
        data = f.read()
    lines = _split_lf(data)  # split on LF only; CR and binary bytes stay
    if not lines or not lines[0].startswith(b"# recorded by scripts/imap_tee.py: "):
        raise ValueError("%s: missing header line" % path)
    scenario = lines[0][len(b"# recorded by scripts/imap_tee.py: "):].rstrip(b"\r\n").decode()
    c, s = bytearray(), bytearray()
    for n, line in enumerate(lines[1:], start=2):
        if line.startswith(b"C: "):
            c += line[3:]
        elif line.startswith(b"S: "):
            s += line[3:]
        else:
            raise ValueError("%s:%d: line without C:/S: prefix: %r" % (path, n, line[:40]))
    return scenario, bytes(c), bytes(s)


def _split_lf(data):
    out, start = [], 0
    while start < len(data):
        nl = data.find(b"\n", start)
        end = len(data) if nl < 0 else nl + 1
        out.append(data[start:end])
        start = end
    return out


def _quiet(fn, *args):
    try:
        fn(*args)
    except OSError:
        pass


def main(argv=None):
    ap = argparse.ArgumentParser(description="Record one IMAP connection as an S:/C: transcript")
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--upstream-host", default="127.0.0.1")
    ap.add_argument("--out", required=True, help="transcript file to write")
    ap.add_argument("--name", default="manual", help="scenario name for the header line")
    args = ap.parse_args(argv)
    tee = ImapTee(args.upstream_port, args.out, args.name, upstream_host=args.upstream_host)
    tee.start()
    print("listening on 127.0.0.1:%d -> %s:%d" % (tee.port, args.upstream_host,
                                                 args.upstream_port), flush=True)
    try:
        while not tee.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    tee.close(timeout=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
