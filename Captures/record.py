#!/usr/bin/env python3
"""Record real IMAP sessions (real clients <-> a real Dovecot) as S:/C: transcripts.

    sudo python3 Captures/record.py                 # all scenarios into Captures/
    sudo python3 Captures/record.py --list
    sudo python3 Captures/record.py idle-delivery --out /tmp/caps

Standard library only (plus the dovecot, openssl and curl binaries). Every
scenario group gets a fresh Dovecot (scripts/dovecot_fixture.py) with a fixed
seed mailbox, and every recorded connection goes through its own tee
(scripts/imap_tee.py), which writes Captures/<name>.transcript. After each
session the transcript is parsed back and checked byte for byte against what
the tee relayed.

Deterministic where we control it: message contents, dates, Maildir file
names, tags (imaplib's random tag prefix is seeded; raw clients use fixed
tags). Dovecot's UIDVALIDITY and its timing will differ between runs.

Packet captures (tcpdump, no tee) of similar scenarios: Captures/record_pcaps.py.
"""

import argparse
import base64
import imaplib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts"))

from dovecot_fixture import Dovecot, USER, PASSWORD, seed_message  # noqa: E402
from imap_tee import ImapTee, read_transcript_parts  # noqa: E402

HOST = "127.0.0.1"
TIMEOUT = 20


class ScenarioError(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise ScenarioError(what)


def ok(result, what):
    typ, data = result
    check(typ == "OK", "%s: %s %r" % (what, typ, data))
    return data


def imaplib_client(port, tag_seed):
    """imaplib.IMAP4 with a reproducible tag prefix (imaplib draws it from `random`)."""
    state = random.getstate()
    random.seed(tag_seed)
    try:
        return imaplib.IMAP4(HOST, port, timeout=TIMEOUT)
    finally:
        random.setstate(state)


def fixed_message(subject, n_lines=12, date="Mon, 15 Jan 2024 10:00:00 +0000", msgid=None):
    msgid = msgid or "<%s@imapscope.test>" % subject.lower().replace(" ", "-")
    head = ("Date: %s\r\nFrom: Carol Example <carol@example.test>\r\n"
            "To: Alice Example <alice@example.test>\r\nSubject: %s\r\n"
            "Message-ID: %s\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n") % (date, subject, msgid)
    body = "".join("%s, line %d of %d.\r\n" % (subject, i, n_lines)
                   for i in range(1, n_lines + 1))
    return (head + body).encode("ascii")


def read_until_tag(m, tag):
    """Read raw lines from an imaplib connection until the tagged response for tag."""
    lines = []
    while True:
        line = m.readline()
        check(line, "connection closed while waiting for %r" % tag)
        lines.append(line)
        if line.startswith(tag + b" "):
            check(line.startswith(tag + b" OK"), "%r failed: %r" % (tag, line))
            return lines


class RawLines:
    """Minimal line reader for a raw socket, optionally through DEFLATE."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.inflate = None
        self.deflate = None

    def start_compression(self):
        check(not self.buf, "bytes pending before COMPRESS took effect")
        self.inflate = zlib.decompressobj(wbits=-15)
        self.deflate = zlib.compressobj(wbits=-15)

    def send(self, data):
        if self.deflate:
            data = self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                if self.inflate:
                    self.buf += self.inflate.flush()
                if b"\n" not in self.buf:
                    line, self.buf = bytes(self.buf), bytearray()
                    return line
                break
            self.buf += self.inflate.decompress(chunk) if self.inflate else chunk
        i = self.buf.index(b"\n") + 1
        line = bytes(self.buf[:i])
        del self.buf[:i]
        return line

    def until_tag(self, tag):
        lines = []
        while True:
            line = self.readline()
            check(line, "connection closed while waiting for %r" % tag)
            lines.append(line)
            if line.startswith(tag + b" "):
                check(line.startswith(tag + b" OK"), "%r failed: %r" % (tag, line))
                return lines


# -- scenarios ---------------------------------------------------------------
#
# Each scenario is (names it records, seed count, function(dc, record)).
# record(name) returns a started ImapTee writing <out>/<name>.transcript.

def sc_login_select_fetch(dc, record):
    tee = record("login-select-fetch")
    m = imaplib_client(tee.port, 1001)
    ok(m.login(USER, PASSWORD), "LOGIN")
    ok(m.capability(), "CAPABILITY")
    data = ok(m.list('""', "*"), "LIST")
    check(any(b"INBOX" in d for d in data), "LIST has no INBOX: %r" % data)
    data = ok(m.select("INBOX"), "SELECT")
    check(data == [b"5"], "SELECT INBOX: expected 5 messages, got %r" % data)
    data = ok(m.fetch("1:5", "(FLAGS UID RFC822.SIZE)"), "FETCH")
    check(len(data) == 5, "FETCH 1:5 returned %r" % data)
    data = ok(m.uid("FETCH", "3", "(BODY.PEEK[HEADER.FIELDS (DATE FROM SUBJECT)] BODY[])"),
              "UID FETCH")
    bodies = [d[1] for d in data if isinstance(d, tuple)]
    check(seed_message(3) in bodies, "UID FETCH 3 BODY[] is not seed message 3")
    check(any(b"Subject: Seed message 3" in b for b in bodies), "header fields missing")
    ok(m.store("1", "+FLAGS", "(\\Seen)"), "STORE")
    check(m.logout()[0] == "BYE", "LOGOUT")
    tee.close()


def sc_append_literals(dc, record):
    tee = record("append-literals")
    m = imaplib_client(tee.port, 1002)
    ok(m.login(USER, PASSWORD), "LOGIN")
    caps = ok(m.capability(), "CAPABILITY")[0].split()
    check(b"LITERAL+" in caps, "server does not advertise LITERAL+: %r" % caps)
    # 1. imaplib: synchronizing literal {n}, waits for the server's "+".
    msg1 = fixed_message("Appended with a synchronizing literal")
    ok(m.append("INBOX", "(\\Seen)", '"15-Jan-2024 10:00:00 +0000"', msg1), "APPEND {n}")
    # 2. raw, on the same connection: non-synchronizing literal {n+}; the
    #    literal follows at once, without waiting for a continuation.
    msg2 = fixed_message("Appended with a non-synchronizing literal",
                         date="Mon, 15 Jan 2024 10:05:00 +0000")
    m.send(b'n1 APPEND INBOX (\\Flagged) "15-Jan-2024 10:05:00 +0000" {%d+}\r\n' % len(msg2))
    m.send(msg2 + b"\r\n")
    lines = read_until_tag(m, b"n1")
    check(not any(l.startswith(b"+") for l in lines), "server sent a continuation for {n+}")
    data = ok(m.select("INBOX"), "SELECT")
    check(data == [b"4"], "expected 2 seeded + 2 appended, got %r" % data)
    check(m.logout()[0] == "BYE", "LOGOUT")
    tee.close()


def sc_idle_delivery(dc, record):
    tee = record("idle-delivery")
    m = imaplib_client(tee.port, 1003)
    ok(m.login(USER, PASSWORD), "LOGIN")
    data = ok(m.select("INBOX"), "SELECT")
    check(data == [b"3"], "SELECT: %r" % data)
    m.send(b"a3 IDLE\r\n")
    line = m.readline()
    check(line.startswith(b"+"), "IDLE: expected continuation, got %r" % line)
    time.sleep(0.3)  # let Dovecot settle into IDLE (inotify watch) before delivery
    dc.deliver(USER, fixed_message("Delivered while idling", date="Mon, 15 Jan 2024 11:00:00 +0000"),
               mtime=1705316400)
    deadline = time.monotonic() + 15
    while True:
        check(time.monotonic() < deadline, "no EXISTS within 15s of delivery")
        line = m.readline()
        check(line, "connection closed during IDLE")
        if line.startswith(b"* ") and line.rstrip().endswith(b"EXISTS"):
            check(line == b"* 4 EXISTS\r\n", "unexpected %r" % line)
            break
    time.sleep(0.2)  # let any companion untagged (RECENT) arrive inside IDLE
    m.send(b"DONE\r\n")
    read_until_tag(m, b"a3")
    check(m.logout()[0] == "BYE", "LOGOUT")
    tee.close()


def sc_authenticate(dc, record):
    # AUTHENTICATE PLAIN: imaplib with a callable, no initial response.
    tee = record("auth-plain")
    m = imaplib_client(tee.port, 1004)
    challenges = []

    def plain(challenge):
        challenges.append(challenge)
        return b"\0" + USER.encode() + b"\0" + PASSWORD.encode()

    ok(m.authenticate("PLAIN", plain), "AUTHENTICATE PLAIN")
    check(challenges == [b""], "PLAIN challenges: %r" % challenges)
    ok(m.noop(), "NOOP")
    check(m.logout()[0] == "BYE", "LOGOUT")
    tee.close()

    # AUTHENTICATE LOGIN: two challenges, "Username:" then "Password:".
    tee = record("auth-login")
    m = imaplib_client(tee.port, 1005)
    challenges = []

    def login(challenge):
        challenges.append(challenge)
        return USER.encode() if challenge.lower().startswith(b"user") else PASSWORD.encode()

    ok(m.authenticate("LOGIN", login), "AUTHENTICATE LOGIN")
    check(challenges == [b"Username:", b"Password:"], "LOGIN challenges: %r" % challenges)
    ok(m.noop(), "NOOP")
    check(m.logout()[0] == "BYE", "LOGOUT")
    tee.close()

    # AUTHENTICATE CRAM-MD5 via imaplib.login_cram_md5.
    tee = record("auth-cram-md5")
    m = imaplib_client(tee.port, 1006)
    ok(m.login_cram_md5(USER, PASSWORD), "AUTHENTICATE CRAM-MD5")
    ok(m.noop(), "NOOP")
    check(m.logout()[0] == "BYE", "LOGOUT")
    tee.close()


def sc_curl_fetch(dc, record):
    curl = shutil.which("curl")
    if not curl:
        raise SkipScenario("curl not installed")
    tee = record("curl-fetch")
    url = "imap://%s:%d/INBOX;UID=1" % (HOST, tee.port)
    r = subprocess.run([curl, "-sS", "--max-time", str(TIMEOUT), "--user",
                        "%s:%s" % (USER, PASSWORD), url], capture_output=True)
    tee.close()
    check(r.returncode == 0, "curl exited %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))
    check(r.stdout == seed_message(1), "curl output is not seed message 1 (%d bytes)" % len(r.stdout))


def sc_compress_deflate(dc, record):
    tee = record("compress-deflate")
    s = socket.create_connection((HOST, tee.port), timeout=TIMEOUT)
    io = RawLines(s)
    greeting = io.readline()
    check(greeting.startswith(b"* OK"), "greeting %r" % greeting)
    io.send(b"c1 LOGIN alice password\r\n")
    caps = b"".join(io.until_tag(b"c1"))
    check(b"COMPRESS=DEFLATE" in caps, "no COMPRESS=DEFLATE after login: %r" % caps)
    io.send(b"c2 COMPRESS DEFLATE\r\n")
    io.until_tag(b"c2")
    io.start_compression()
    io.send(b"c3 SELECT INBOX\r\n")
    lines = io.until_tag(b"c3")
    check(b"* 3 EXISTS\r\n" in lines, "SELECT over DEFLATE: %r" % lines)
    io.send(b"c4 FETCH 1 (FLAGS)\r\n")
    lines = io.until_tag(b"c4")
    check(any(l.startswith(b"* 1 FETCH") for l in lines), "FETCH over DEFLATE: %r" % lines)
    io.send(b"c5 LOGOUT\r\n")
    lines = io.until_tag(b"c5")
    check(any(l.startswith(b"* BYE") for l in lines), "LOGOUT over DEFLATE: %r" % lines)
    check(io.readline() == b"", "data after LOGOUT")
    s.close()
    tee.close()


class SkipScenario(Exception):
    pass


SCENARIOS = [
    # (group name, transcripts it writes, seeded messages, function)
    ("login-select-fetch", ["login-select-fetch"], 5, sc_login_select_fetch),
    ("append-literals", ["append-literals"], 2, sc_append_literals),
    ("idle-delivery", ["idle-delivery"], 3, sc_idle_delivery),
    ("authenticate-mechanisms", ["auth-plain", "auth-login", "auth-cram-md5"], 0,
     sc_authenticate),
    ("curl-fetch", ["curl-fetch"], 3, sc_curl_fetch),
    ("compress-deflate", ["compress-deflate"], 3, sc_compress_deflate),
]


def verify(tee, path):
    """The transcript must parse back to exactly the bytes the tee relayed (after COMPRESS:
    to exactly those bytes inflated, here independently of the tee)."""
    t = read_transcript_parts(path)
    check(t.scenario == tee.scenario, "%s: header names %r" % (path, t.scenario))
    check((t.decompressed_at is not None) == tee.compress_started,
          "%s: decompressed directive %s, but COMPRESS %s" % (
              path, "present" if t.decompressed_at else "missing",
              "started" if tee.compress_started else "did not start"))
    for i, (name, got, rec) in enumerate((("client", t.client, tee.client),
                                          ("server", t.server, tee.server))):
        raw = bytes(rec.raw)
        check(rec.inflate_error is None, "%s: %s stream: %s" % (path, name, rec.inflate_error))
        if rec.inflate_from is not None:
            d = zlib.decompressobj(wbits=-15)
            want = raw[:rec.inflate_from] + d.decompress(raw[rec.inflate_from:]) + d.flush()
            check(not d.unused_data, "%s: %s: %d bytes after the end of the DEFLATE stream"
                  % (path, name, len(d.unused_data)))
            check(t.decompressed_at[i] == rec.inflate_from,
                  "%s: %s: directive after %d bytes, compression began after %d"
                  % (path, name, t.decompressed_at[i], rec.inflate_from))
        else:
            want = raw
        want = want if want.endswith(b"\n") or not want else want + b"\r\n"
        check(got == want, "%s: %s bytes differ from relayed bytes (%d vs %d)"
              % (path, name, len(got), len(want)))
    check(tee.refused == 0, "%s: client opened %d extra connection(s)" % (path, tee.refused))


def run_group(group, names, seed, fn, out_dir, version_seen):
    with Dovecot() as dc:
        version_seen.add(dc.version)
        if seed:
            dc.seed(USER, seed)
        tees = []

        def record(name):
            check(name in names, "scenario %s records undeclared %s" % (group, name))
            tee = ImapTee(dc.imap_port, os.path.join(out_dir, name + ".transcript"), name,
                          keep_raw=True).start()
            tees.append(tee)
            return tee

        try:
            fn(dc, record)
        except BaseException:
            for t in tees:
                try:
                    t.close(timeout=2)
                except Exception:
                    pass
            dc.print_log(header="Dovecot log for failed scenario %s" % group)
            raise
        results = []
        for tee in tees:
            tee.close()
            verify(tee, tee.path)
            with open(tee.path, "rb") as f:
                n = f.read().count(b"\n") - 1
            results.append((tee.scenario, n, tee.client.bytes, tee.server.bytes))
        return results


def main(argv=None):
    ap = argparse.ArgumentParser(description="Record real-client <-> Dovecot transcripts")
    ap.add_argument("scenarios", nargs="*", help="scenario groups or transcript names (default: all)")
    ap.add_argument("--out", default=HERE, help="output directory (default: Captures/)")
    ap.add_argument("--list", action="store_true", help="list scenarios and exit")
    args = ap.parse_args(argv)
    # Whoever started us may have left signals blocked (started by `swift test` through
    # Foundation's Process, we inherit a mask blocking SIGINT and SIGTERM): unblock them,
    # so Ctrl-C, or the SIGINT a test sends on timeout, still stops the Dovecots cleanly.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    if args.list:
        for group, names, seed, fn in SCENARIOS:
            print("%-24s -> %s" % (group, ", ".join(n + ".transcript" for n in names)))
        return 0
    wanted = set(args.scenarios)
    known = {g for g, *_ in SCENARIOS} | {n for _, ns, _, _ in SCENARIOS for n in ns}
    unknown = wanted - known
    if unknown:
        ap.error("unknown scenario(s): %s (see --list)" % ", ".join(sorted(unknown)))
    os.makedirs(args.out, exist_ok=True)
    failed, skipped, versions = [], [], set()
    for group, names, seed, fn in SCENARIOS:
        if wanted and group not in wanted and not wanted & set(names):
            continue
        try:
            for name, n, cb, sb in run_group(group, names, seed, fn, args.out, versions):
                print("ok    %-20s %4d lines  client %6d B  server %6d B" % (name, n, cb, sb))
        except SkipScenario as e:
            skipped.append(group)
            print("skip  %-20s %s" % (group, e))
        except Exception as e:
            failed.append(group)
            print("FAIL  %-20s %s: %s" % (group, type(e).__name__, e))
    print("Dovecot %s" % ", ".join(sorted(versions)))
    if failed:
        print("failed: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
