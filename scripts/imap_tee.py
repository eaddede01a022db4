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

COMPRESS DEFLATE (RFC 4978): once the tee has recorded the server's tagged OK
to a client's `tag COMPRESS DEFLATE`, it writes the line

    # imapscope: decompressed COMPRESS=DEFLATE active; the lines below are inflated\\r\\n

and from then on inflates each direction's copy (zlib, raw DEFLATE) before
cutting it into lines. The relayed bytes stay compressed and untouched. imapscope
reads such a transcript without inflating again (FixtureReader.isDecompressed).

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
import re
import socket
import sys
import threading
import zlib

HEADER = b"# recorded by scripts/imap_tee.py: %s\r\n"


# Written into the transcript once COMPRESS DEFLATE has taken effect; the decoder
# (FixtureReader.isDecompressed) then reads what follows as plain IMAP.
DECOMPRESSED_DIRECTIVE = b"# imapscope: decompressed COMPRESS=DEFLATE active; the lines below are inflated\r\n"
DIRECTIVE_PREFIX = b"# imapscope: decompressed"

_LITERAL_AT_END = re.compile(rb"~?\{([0-9]+)[+-]?\}\r?\n\Z")
_COMPRESS_CMD = re.compile(rb"([^ \r\n]+) COMPRESS DEFLATE\r?\n\Z", re.IGNORECASE)
_TAGGED = re.compile(rb"([^ \r\n]+) (OK|NO|BAD)\b", re.IGNORECASE)


class _LineRecorder:
    """Buffers one direction's bytes and writes complete lines to the shared file.

    It also follows just enough IMAP to see COMPRESS DEFLATE take effect: the
    client's `tag COMPRESS DEFLATE` line and then the server's `tag OK`, neither
    inside a literal. From the byte after that OK line on, both directions are
    inflated (raw DEFLATE, RFC 4978) before being cut into lines, so the
    transcript holds the conversation in order. The relay forwards the
    compressed bytes untouched; only the recorded copy is inflated.
    """

    def __init__(self, tee, prefix, keep_raw):
        self.tee = tee
        self.prefix = prefix
        self.pending = bytearray()
        self.bytes = 0                    # wire bytes seen (compressed, after COMPRESS)
        self.raw = bytearray() if keep_raw else None
        self.literal_left = 0             # literal bytes still to come (no detection inside)
        self.at_line_start = True
        self.inflater = None
        self.inflate_from = None          # offset in the wire bytes where inflation began
        self.inflate_error = None
        self.trailing = 0                 # wire bytes after the end of the DEFLATE stream
        self._mu = threading.Lock()

    def feed(self, data):
        with self._mu:
            self.bytes += len(data)
            if self.raw is not None:
                self.raw += data
            self.pending += self._inflate(data) if self.inflater else data
            self._drain()

    def finish(self):
        with self._mu:
            if self.inflater is not None and self.inflate_error is None:
                try:
                    self.pending += self.inflater.flush()
                except zlib.error as e:
                    self._fail(e)
            if self.pending:
                line = bytes(self.pending) + b"\r\n"
                self.pending.clear()
                self.tee._write(self.prefix, [line])
            if self.trailing:
                self.tee._write(b"", [], then=b"# imap_tee: %d %s bytes came after the end of "
                                b"the DEFLATE stream; they are not in this transcript\r\n"
                                % (self.trailing, self.prefix.rstrip(b": ")))

    # -- COMPRESS ----------------------------------------------------------

    def start_inflating(self, leftover=b""):
        """Inflate from now on; leftover: wire bytes already received past the switch."""
        if self.inflater is not None:
            return
        self.inflater = zlib.decompressobj(wbits=-15)
        self.inflate_from = self.bytes - len(leftover)
        if leftover:
            self.pending += self._inflate(leftover)

    def _inflate(self, data):
        if self.inflate_error is not None:
            return b""
        if self.inflater.eof:
            self.trailing += len(data)
            return b""
        try:
            out = self.inflater.decompress(data)
        except zlib.error as e:
            self._fail(e)
            return b""
        if self.inflater.eof and self.inflater.unused_data:
            self.trailing += len(self.inflater.unused_data)
        return out

    def _fail(self, e):
        self.inflate_error = e
        self.tee._write(b"", [], then=(b"# imap_tee: cannot inflate the %s stream (%s); "
                              b"its remaining bytes are not in this transcript\r\n"
                              % (self.prefix.rstrip(b": "), str(e).encode())))

    # -- lines -------------------------------------------------------------

    def _drain(self):
        lines = []
        start = 0
        while True:
            nl = self.pending.find(b"\n", start)
            if nl < 0:
                break
            line = bytes(self.pending[start:nl + 1])
            lines.append(line)
            start = nl + 1
            if self.inflater is None and self._watch(line):
                # COMPRESS took effect after this line: whatever follows it in the
                # buffer is already compressed.
                leftover = bytes(self.pending[start:])
                del self.pending[:]
                start = 0
                self.tee._write(self.prefix, lines, then=DECOMPRESSED_DIRECTIVE)
                lines = []
                self.tee._compress_started(self, leftover)
        if start:
            del self.pending[:start]
        if lines:
            self.tee._write(self.prefix, lines)

    def _watch(self, line):
        """Follow literals and COMPRESS for one line; True when COMPRESS starts after it."""
        at_start = self.at_line_start
        if self.literal_left:
            if len(line) <= self.literal_left:
                self.literal_left -= len(line)
                return False
            line = line[self.literal_left:]
            self.literal_left = 0
            at_start = False
        m = _LITERAL_AT_END.search(line)
        self.at_line_start = m is None
        if m:
            self.literal_left = int(m.group(1))
        if not at_start:
            return False
        return self.tee._line_seen(self, line)


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
        self._tags_lock = threading.Lock()
        self._compress_tags = set()     # tags of COMPRESS DEFLATE commands awaiting their result
        self.compress_started = False
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

    def _write(self, prefix, lines, then=b""):
        """Write prefixed lines, then an unprefixed line (a # comment) if given, in one go."""
        with self._lock:
            if self._file.closed:
                return
            for line in lines:
                self._file.write(prefix)
                self._file.write(line)
            if then:
                self._file.write(then)
            self._file.flush()

    def _line_seen(self, rec, line):
        """A line that starts outside a literal. True when COMPRESS takes effect after it:
        the server's tagged OK to a client's `tag COMPRESS DEFLATE`."""
        if rec is self.client:
            m = _COMPRESS_CMD.match(line)
            if m:
                with self._tags_lock:
                    self._compress_tags.add(m.group(1))
            return False
        m = _TAGGED.match(line)
        if not m:
            return False
        with self._tags_lock:
            if m.group(1) not in self._compress_tags:
                return False
            self._compress_tags.discard(m.group(1))
        return m.group(2).upper() == b"OK"

    def _compress_started(self, server_rec, leftover):
        """Called by the server recorder (holding its lock) right after it wrote the OK line
        and the directive: both directions inflate from here on."""
        server_rec.start_inflating(leftover)
        self.compress_started = True
        with self.client._mu:
            # A client sends compressed bytes only after it has this OK, which is relayed
            # only after this returns, so nothing compressed is in the client buffer yet.
            self.client.start_inflating()

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
    b"\r\n" the recorder appended, and that after the decompressed directive
    the bytes are the inflated ones (see read_transcript_parts).
    """
    t = read_transcript_parts(path)
    return t.scenario, t.client, t.server


class Transcript:
    """scenario; client and server bytes; decompressed_at: (client offset, server offset)
    in those bytes where the decompressed directive stood, or None."""

    def __init__(self, scenario, client, server, decompressed_at):
        self.scenario = scenario
        self.client = client
        self.server = server
        self.decompressed_at = decompressed_at


def read_transcript_parts(path):
    with open(path, "rb") as f:
        data = f.read()
    lines = _split_lf(data)  # split on LF only; CR and binary bytes stay
    if not lines or not lines[0].startswith(b"# recorded by scripts/imap_tee.py: "):
        raise ValueError("%s: missing header line" % path)
    scenario = lines[0][len(b"# recorded by scripts/imap_tee.py: "):].rstrip(b"\r\n").decode()
    c, s = bytearray(), bytearray()
    at = None
    for n, line in enumerate(lines[1:], start=2):
        if line.startswith(b"C: "):
            c += line[3:]
        elif line.startswith(b"S: "):
            s += line[3:]
        elif line.startswith(DIRECTIVE_PREFIX):
            if at is not None:
                raise ValueError("%s:%d: second decompressed directive" % (path, n))
            at = (len(c), len(s))
        elif line.startswith(b"# imap_tee: "):
            pass
        else:
            raise ValueError("%s:%d: line without C:/S: prefix: %r" % (path, n, line[:40]))
    return Transcript(scenario, bytes(c), bytes(s), at)


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
