"""What the two recorders share: the client scenarios they drive against Dovecot, and their CLI.

    Captures/record.py        S:/C: transcripts (clients talk through scripts/imap_tee.py)
    Captures/record_pcaps.py  packet captures (clients talk to Dovecot, tcpdump listens)

Standard library only (plus the curl binary for curl_fetch). Not a program of its own.

A client driver is called as `driver(dc, host, port)`: it connects to host:port (a tee or
Dovecot itself), runs one session to its end, checks what it got and raises ScenarioError
(SkipScenario when a program it needs is missing) if anything is off. dc is the
scripts/dovecot_fixture.Dovecot serving the session (for deliveries). The imaplib drivers
also take tag_seed, which seeds imaplib's random tag prefix so that the tags are the same
from run to run, and options; the recorders' tables bind them with functools.partial. A
driver returns the client byte streams it sent when it knows them exactly (raw sockets),
else None.

recorder_main() is the command line both recorders have: [--list] [--out DIR] [name...].
"""

import argparse
import contextlib
import imaplib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import zlib

from dovecot_fixture import Dovecot, USER, PASSWORD, seed_message

V4 = "127.0.0.1"
V6 = "::1"
TIMEOUT = 20
CAPTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Captures")


class ScenarioError(AssertionError):
    pass


class SkipScenario(Exception):
    pass


def require(program, package=None):
    """The path of program, or SkipScenario if it is not installed."""
    path = shutil.which(program)
    if not path:
        raise SkipScenario("%s not installed%s" % (program, " (apt-get install %s)" % package if package else ""))
    return path


def check(cond, what):
    if not cond:
        raise ScenarioError(what)


def ok(result, what):
    typ, data = result
    check(typ == "OK", "%s: %s %r" % (what, typ, data))
    return data


def fixed_message(subject, n_lines=12, date="Mon, 15 Jan 2024 10:00:00 +0000", msgid=None):
    msgid = msgid or "<%s@imapscope.test>" % subject.lower().replace(" ", "-")
    head = ("Date: %s\r\nFrom: Carol Example <carol@example.test>\r\n"
            "To: Alice Example <alice@example.test>\r\nSubject: %s\r\n"
            "Message-ID: %s\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n") % (date, subject, msgid)
    body = "".join("%s, line %d of %d.\r\n" % (subject, i, n_lines)
                   for i in range(1, n_lines + 1))
    return (head + body).encode("ascii")


def read_until_tag(conn, tag):
    """Read lines from conn (anything with readline(): an imaplib connection, a RawClient)
    up to the tagged response for tag, which must be OK; returns the lines."""
    lines = []
    while True:
        line = conn.readline()
        check(line, "connection closed while waiting for %r" % tag)
        lines.append(line)
        if line.startswith(tag + b" "):
            check(line.startswith(tag + b" OK"), "%r failed: %r" % (tag, line))
            return lines


# -- clients -------------------------------------------------------------------

def imaplib_client(host, port, tag_seed):
    """imaplib.IMAP4 with a reproducible tag prefix (imaplib draws it from `random`)."""
    state = random.getstate()
    random.seed(tag_seed)
    try:
        return imaplib.IMAP4(host, port, timeout=TIMEOUT)
    finally:
        random.setstate(state)


def logged_in(host, port, tag_seed):
    """An imaplib client after LOGIN (imaplib asks for CAPABILITY first)."""
    m = imaplib_client(host, port, tag_seed)
    ok(m.login(USER, PASSWORD), "LOGIN")
    return m


def select_inbox(m, exists):
    data = ok(m.select("INBOX"), "SELECT")
    check(data == [b"%d" % exists], "SELECT INBOX: expected %d messages, got %r" % (exists, data))


def fetch_summaries(m, n):
    data = ok(m.fetch("1:%d" % n, "(FLAGS UID RFC822.SIZE)"), "FETCH")
    check(len(data) == n, "FETCH 1:%d returned %r" % (n, data))


def logout(m):
    check(m.logout()[0] == "BYE", "LOGOUT")


class RawClient:
    """A raw socket client with a line reader, optionally through DEFLATE. Reads the greeting
    when it connects, and keeps every byte it sent (after COMPRESS: what went out, deflated)."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.buf = bytearray()
        self.inflate = None
        self.deflate = None
        self.sent = bytearray()
        greeting = self.readline()
        check(greeting.startswith(b"* OK"), "greeting %r" % greeting)

    def start_compression(self):
        check(not self.buf, "bytes pending before COMPRESS took effect")
        self.inflate = zlib.decompressobj(wbits=-15)
        self.deflate = zlib.compressobj(wbits=-15)

    def send(self, data):
        if self.deflate:
            data = self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sent += data
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

    def cmd(self, line):
        """Send `tag rest` and read up to the tagged OK; returns the lines."""
        self.send(line + b"\r\n")
        return read_until_tag(self, line.split(b" ", 1)[0])

    def close_after_logout(self):
        check(self.readline() == b"", "data after LOGOUT")
        self.sock.close()


# -- client drivers both recorders run ------------------------------------------

def login_select_fetch(dc, host, port, tag_seed, capability_and_list=False):
    m = logged_in(host, port, tag_seed)
    if capability_and_list:
        ok(m.capability(), "CAPABILITY")
        data = ok(m.list('""', "*"), "LIST")
        check(any(b"INBOX" in d for d in data), "LIST has no INBOX: %r" % data)
    select_inbox(m, 5)
    fetch_summaries(m, 5)
    data = ok(m.uid("FETCH", "3", "(BODY.PEEK[HEADER.FIELDS (DATE FROM SUBJECT)] BODY[])"), "UID FETCH")
    bodies = [d[1] for d in data if isinstance(d, tuple)]
    check(seed_message(3) in bodies, "UID FETCH 3 BODY[] is not seed message 3")
    check(any(b"Subject: Seed message 3" in b for b in bodies), "header fields missing")
    ok(m.store("1", "+FLAGS", "(\\Seen)"), "STORE")
    logout(m)


def append_literals(dc, host, port, tag_seed):
    m = logged_in(host, port, tag_seed)
    caps = ok(m.capability(), "CAPABILITY")[0].split()
    check(b"LITERAL+" in caps, "server does not advertise LITERAL+: %r" % caps)
    # 1. imaplib: synchronizing literal {n}, waits for the server's "+ OK".
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
    select_inbox(m, 4)  # 2 seeded + 2 appended
    logout(m)


def idle_delivery(dc, host, port, tag_seed):
    m = logged_in(host, port, tag_seed)
    select_inbox(m, 3)
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
    logout(m)


# imaplib authenticators: mechanism -> (answer to a challenge, the challenges Dovecot sends).
# PLAIN has no initial response: one empty challenge. LOGIN: "Username:", then "Password:".
SASL = {
    "PLAIN": (lambda challenge: b"\0" + USER.encode() + b"\0" + PASSWORD.encode(), [b""]),
    "LOGIN": (lambda challenge: USER.encode() if challenge.lower().startswith(b"user") else PASSWORD.encode(),
              [b"Username:", b"Password:"]),
}


def authenticate(dc, host, port, tag_seed, mechanism):
    """AUTHENTICATE mechanism through imaplib (CRAM-MD5: imaplib.login_cram_md5), NOOP, LOGOUT."""
    m = imaplib_client(host, port, tag_seed)
    if mechanism == "CRAM-MD5":
        ok(m.login_cram_md5(USER, PASSWORD), "AUTHENTICATE CRAM-MD5")
    else:
        answer, expected = SASL[mechanism]
        challenges = []

        def respond(challenge):
            challenges.append(challenge)
            return answer(challenge)

        ok(m.authenticate(mechanism, respond), "AUTHENTICATE " + mechanism)
        check(challenges == expected, "%s challenges: %r" % (mechanism, challenges))
    ok(m.noop(), "NOOP")
    logout(m)


def curl_fetch(dc, host, port, tag_seed=None):
    curl = require("curl")
    url = "imap://%s:%d/INBOX;UID=1" % (host, port)
    r = subprocess.run([curl, "-sS", "--max-time", str(TIMEOUT), "--user", "%s:%s" % (USER, PASSWORD), url],
                       capture_output=True)
    check(r.returncode == 0, "curl exited %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))
    check(r.stdout == seed_message(1), "curl output is not seed message 1 (%d bytes)" % len(r.stdout))


def compress_deflate(dc, host, port, tag_seed=None):
    c = RawClient(host, port)
    caps = b"".join(c.cmd(b"c1 LOGIN alice password"))
    check(b"COMPRESS=DEFLATE" in caps, "no COMPRESS=DEFLATE after login: %r" % caps)
    c.cmd(b"c2 COMPRESS DEFLATE")
    c.start_compression()
    lines = c.cmd(b"c3 SELECT INBOX")
    check(b"* 3 EXISTS\r\n" in lines, "SELECT over DEFLATE: %r" % lines)
    lines = c.cmd(b"c4 FETCH 1 (FLAGS)")
    check(any(l.startswith(b"* 1 FETCH") for l in lines), "FETCH over DEFLATE: %r" % lines)
    lines = c.cmd(b"c5 LOGOUT")
    check(any(l.startswith(b"* BYE") for l in lines), "LOGOUT over DEFLATE: %r" % lines)
    c.close_after_logout()
    return [bytes(c.sent)]


# -- running -------------------------------------------------------------------

@contextlib.contextmanager
def seeded_dovecot(seed, versions, ipv6=False):
    """A fresh Dovecot (its version noted in the set versions) with seed messages in INBOX."""
    with Dovecot(ipv6=ipv6) as dc:
        versions.add(dc.version)
        if seed:
            dc.seed(USER, seed)
        yield dc


def clear_signal_mask():
    """Whoever started us may have left signals blocked (started by `swift test` through
    Foundation's Process, we inherit a mask blocking SIGINT and SIGTERM): unblock them,
    so Ctrl-C, or the SIGINT a test sends on timeout, still stops the Dovecots cleanly."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def recorder_main(argv, description, names_help, scenarios, names, list_line, record, width,
                  normalize=lambda name: name, root_for=None):
    """The recorders' command line: [--list] [--out DIR] [name...]; returns the exit status.

    scenarios: the recorder's table; each entry's [0] is the name it is reported under.
    names(entry): the names that select it on the command line (after normalize(arg)).
    list_line(entry): its --list line. record(entry, out_dir, versions): record it, return
    the lines to report after "ok    " (raises SkipScenario, or anything else on failure).
    width: the name column of the "skip"/"FAIL" lines. root_for: say why, if the recorder
    refuses to start without root."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("scenarios", nargs="*", help=names_help)
    ap.add_argument("--out", default=CAPTURES, help="output directory (default: Captures/)")
    ap.add_argument("--list", action="store_true", help="list scenarios and exit")
    args = ap.parse_args(argv)
    clear_signal_mask()
    if args.list:
        for entry in scenarios:
            print(list_line(entry))
        return 0
    wanted = {normalize(w) for w in args.scenarios}
    unknown = wanted - set().union(*(names(entry) for entry in scenarios))
    if unknown:
        ap.error("unknown scenario(s): %s (see --list)" % ", ".join(sorted(unknown)))
    if root_for and os.geteuid() != 0:
        ap.error("must run as root (%s)" % root_for)
    os.makedirs(args.out, exist_ok=True)
    failed, versions = [], set()
    for entry in scenarios:
        if wanted and not wanted & names(entry):
            continue
        try:
            for line in record(entry, args.out, versions):
                print("ok    " + line)
        except SkipScenario as e:
            print("skip  %-*s %s" % (width, entry[0], e))
        except Exception as e:
            failed.append(entry[0])
            print("FAIL  %-*s %s: %s" % (width, entry[0], type(e).__name__, e))
    print("Dovecot %s" % ", ".join(sorted(versions)))
    if failed:
        print("failed: %s" % ", ".join(failed))
        return 1
    return 0
