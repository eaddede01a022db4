#!/usr/bin/env python3
"""Record real IMAP sessions (real clients <-> a real Dovecot) as packet captures.

    sudo python3 Captures/record_pcaps.py                   # all scenarios into Captures/
    sudo python3 Captures/record_pcaps.py --list
    sudo python3 Captures/record_pcaps.py pcap-starttls --out /tmp/caps

The packet-capture counterpart of Captures/record.py (which writes S:/C:
transcripts through a tee); the client scenarios and the command line both
share are in scripts/imap_scenarios.py. Here every scenario gets a fresh
Dovecot (scripts/dovecot_fixture.py) with a fixed seeded INBOX, and the client
talks to Dovecot DIRECTLY, while

    tcpdump -i lo -U --immediate-mode -s 0 -w <out>/<name>.pcap 'tcp port <imap port>'

records the loopback traffic. The recorder waits until tcpdump reports
"listening on" before starting the client, and stops it with SIGINT a short
settle delay after the client has finished, so both FINs are in the file.

Afterwards each pcap is checked with a small independent pcap reader (below):
tcpdump dropped nothing, the file holds exactly the expected number of TCP
connections, each with its SYN, a FIN from both sides (or a RST) and no hole in
either byte stream, each beginning with Dovecot's "* OK" greeting; for the
raw-socket scenarios, the client stream is byte for byte what the client
sent. It exits non-zero if any scenario fails.

Needs root (Dovecot, tcpdump), and tcpdump, dovecot, openssl, curl, mbsync
(apt-get install isync; the pcap-mbsync scenario is skipped without it).
Standard library only otherwise. Loopback only: 127.0.0.1 and ::1.

Deterministic where we control it: message contents, dates, Maildir file
names, tags (imaplib's random tag prefix is seeded; raw clients use fixed
tags; curl, mbsync and openssl have their own fixed tags). What changes:
ports, timestamps, TCP sequence numbers, UIDVALIDITY, Dovecot's timings,
the CRAM-MD5 challenge, the TLS handshake and the DEFLATE bytes' timing.
"""

import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from functools import partial

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts"))

from dovecot_fixture import USER, PASSWORD, seed_message  # noqa: E402
from imap_scenarios import (TIMEOUT, V4, V6, RawClient, ScenarioError,  # noqa: E402
                            append_literals, authenticate, check, compress_deflate, curl_fetch,
                            fetch_summaries, fixed_message, idle_delivery, logged_in, login_select_fetch, logout,
                            recorder_main, require, seeded_dovecot, select_inbox)

SETTLE = 0.5          # seconds between the client's end and tcpdump's SIGINT


# -- tcpdump -----------------------------------------------------------------

class Tcpdump:
    """tcpdump on lo writing one pcap; start() returns once it is really capturing."""

    def __init__(self, path, port):
        self.path = path
        self.port = port
        self.proc = None
        self.stderr = b""

    def start(self, timeout=10):
        tcpdump = require("tcpdump")
        if os.path.exists(self.path):
            os.unlink(self.path)
        # -Z root: Debian's tcpdump otherwise drops to user tcpdump before it opens the
        # output file. --immediate-mode: hand every packet over at once (TPACKET_V3 would
        # otherwise hold it in a ring block), so nothing is pending at SIGINT.
        self.proc = subprocess.Popen(
            [tcpdump, "-i", "lo", "-U", "--immediate-mode", "-s", "0", "-Z", "root",
             "-w", self.path, "tcp port %d" % self.port],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        fd = self.proc.stderr.fileno()
        while b"listening on" not in self.stderr:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop(settle=0)
                raise ScenarioError("tcpdump did not start listening: %s" % self.stderr.decode(errors="replace"))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    continue
                self.stderr += chunk
        return self

    def stop(self, settle=SETTLE):
        """SIGINT after `settle` seconds; returns (captured, dropped by kernel)."""
        if self.proc is None:
            return (0, 0)
        time.sleep(settle)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            rest = self.proc.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest = self.proc.communicate()[1]
        self.stderr += rest or b""
        self.proc = None
        text = self.stderr.decode(errors="replace")
        cap = re.search(r"(\d+) packets? captured", text)
        drop = re.search(r"(\d+) packets? dropped by kernel", text)
        return (int(cap.group(1)) if cap else -1, int(drop.group(1)) if drop else -1)


# -- an independent pcap reader for the checks ---------------------------------

class Flow:
    def __init__(self, client, server):
        self.client, self.server = client, server
        self.syn = {}                      # side -> ISN
        self.fin = set()
        self.rst = set()
        self.segments = {"c": {}, "s": {}}  # side -> {relative seq: payload}

    def stream(self, side):
        """The side's reassembled bytes, or raise on a hole or a conflicting retransmission."""
        out = bytearray()
        for rel in sorted(self.segments[side]):
            data = self.segments[side][rel]
            if rel > len(out):
                raise ScenarioError("%s: %d bytes missing at offset %d of the %s stream"
                                    % (self.name, rel - len(out), len(out), side))
            overlap = out[rel:rel + len(data)]
            check(data[:len(overlap)] == overlap, "%s: retransmission differs" % self.name)
            out += data[len(overlap):]
        return bytes(out)

    @property
    def name(self):
        return "%s -> %s" % (self.client, self.server)


def read_pcap(path):
    """Parse a classic pcap (what `tcpdump -w` writes) of Ethernet/IPv4/IPv6/TCP frames."""
    with open(path, "rb") as f:
        data = f.read()
    check(len(data) >= 24, "%s: too short for a pcap header" % path)
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise ScenarioError("%s: not a classic pcap (magic %s)" % (path, magic.hex()))
    linktype = struct.unpack(e + "I", data[20:24])[0]
    check(linktype == 1, "%s: link type %d, expected 1 (Ethernet, as Linux lo)" % (path, linktype))
    flows, order, packets, off = {}, [], 0, 24
    while off < len(data):
        check(off + 16 <= len(data), "%s: truncated record header at %d" % (path, off))
        _, _, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        check(len(frame) == incl == orig, "%s: packet %d truncated (%d of %d)" % (path, packets + 1, incl, orig))
        off += 16 + incl
        packets += 1
        etype = struct.unpack(">H", frame[12:14])[0]
        ip = frame[14:]
        if etype == 0x0800:
            ihl = (ip[0] & 15) * 4
            total = struct.unpack(">H", ip[2:4])[0]
            proto, src, dst = ip[9], socket.inet_ntop(socket.AF_INET, ip[12:16]), socket.inet_ntop(socket.AF_INET, ip[16:20])
            tcp = ip[ihl:total]
        elif etype == 0x86DD:
            plen = struct.unpack(">H", ip[4:6])[0]
            proto, src, dst = ip[6], socket.inet_ntop(socket.AF_INET6, ip[8:24]), socket.inet_ntop(socket.AF_INET6, ip[24:40])
            tcp = ip[40:40 + plen]
            src, dst = "[%s]" % src, "[%s]" % dst
        else:
            raise ScenarioError("%s: packet %d: ethertype 0x%04x" % (path, packets, etype))
        check(proto == 6, "%s: packet %d is not TCP" % (path, packets))
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        doff, flags = (tcp[12] >> 4) * 4, tcp[13]
        payload = tcp[doff:]
        a, b = "%s:%d" % (src, sport), "%s:%d" % (dst, dport)
        key = frozenset((a, b))
        if key not in flows:
            check(flags & 0x02 and not flags & 0x10, "%s: first packet of %s -> %s is not a SYN" % (path, a, b))
            flows[key] = Flow(a, b)
            order.append(flows[key])
        fl = flows[key]
        side = "c" if a == fl.client else "s"
        if flags & 0x02:
            fl.syn[side] = seq
            continue
        check(side in fl.syn, "%s: %s: data before the SYN" % (path, fl.name))
        if flags & 0x04:
            fl.rst.add(side)
        rel = (seq - fl.syn[side] - 1) & 0xFFFFFFFF
        if payload:
            old = fl.segments[side].get(rel)
            if old is None or len(payload) > len(old):
                fl.segments[side][rel] = bytes(payload)
        if flags & 0x01:
            fl.fin.add(side)
    return packets, order


def verify_pcap(path, connections, v6, client_bytes):
    packets, flows = read_pcap(path)
    check(len(flows) == connections, "%s: %d TCP connections, expected %d" % (path, len(flows), connections))
    for fl in flows:
        want = "[::1]:" if v6 else "127.0.0.1:"
        check(fl.client.startswith(want) and fl.server.startswith(want),
              "%s: %s is not on %s" % (path, fl.name, want[:-1]))
        check(set(fl.syn) == {"c", "s"}, "%s: %s: handshake incomplete" % (path, fl.name))
        # Closed: a FIN each way, or a reset (openssl s_client's close_notify arrives after
        # Dovecot has closed, and Dovecot's kernel answers it with RST).
        check(fl.fin >= {"c", "s"} or fl.rst, "%s: %s: not closed (FIN %s, no RST)"
              % (path, fl.name, sorted(fl.fin)))
        server = fl.stream("s")
        check(server.startswith(b"* OK"), "%s: %s: server stream starts %r" % (path, fl.name, server[:20]))
    if client_bytes is not None:
        got = [fl.stream("c") for fl in flows]
        check(got == client_bytes, "%s: client streams differ from what the client sent (%r vs %r)"
              % (path, [len(g) for g in got], [len(c) for c in client_bytes]))
    return packets


# -- scenarios -----------------------------------------------------------------
#
# Client drivers, run against dc's imap port (tcpdump already capturing), each
# `driver(dc, host, port)`: those record.py runs too are in scripts/imap_scenarios.py,
# the ones below only here. A driver returns the list of client byte streams it sent
# when it knows them exactly (raw sockets), else None.

def sc_starttls(dc, host, port):
    openssl = require("openssl")
    # -ign_eof: after sending our LOGOUT, keep reading until Dovecot closes.
    r = subprocess.run([openssl, "s_client", "-starttls", "imap", "-connect", "%s:%d" % (host, port),
                        "-servername", "imap.test", "-crlf", "-ign_eof", "-quiet"],
                       input=b"a1 LOGOUT\n", capture_output=True, timeout=TIMEOUT)
    out = r.stdout
    check(r.returncode == 0, "openssl s_client exited %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))
    check(b"* BYE" in out and b"a1 OK" in out, "no BYE / a1 OK over TLS: %r" % out)


def sc_ipv6(dc, host, port, tag_seed):
    m = logged_in(host, port, tag_seed)
    select_inbox(m, 3)
    fetch_summaries(m, 3)
    logout(m)


def _code(lines, name):
    for l in lines:
        mo = re.search(rb"\[" + name + rb" (\d+)\]", l)
        if mo:
            return int(mo.group(1))
    raise ScenarioError("no [%s n] in %r" % (name.decode(), lines))


def sc_condstore_qresync(dc, host, port):
    # Connection 1: note UIDVALIDITY and HIGHESTMODSEQ, flag UID 2, expunge UID 4.
    c = RawClient(host, port)
    caps = b"".join(c.cmd(b"q1 LOGIN alice password"))
    check(b"QRESYNC" in caps, "no QRESYNC after login: %r" % caps)
    check(any(l.startswith(b"* ENABLED") and b"QRESYNC" in l for l in c.cmd(b"q2 ENABLE QRESYNC")), "ENABLE")
    lines = c.cmd(b"q3 SELECT INBOX")
    uidvalidity, modseq = _code(lines, b"UIDVALIDITY"), _code(lines, b"HIGHESTMODSEQ")
    check(b"* 5 EXISTS\r\n" in lines, "SELECT: %r" % lines)
    c.cmd(b"q4 STORE 2 +FLAGS (\\Flagged)")
    c.cmd(b"q5 STORE 4 +FLAGS (\\Deleted)")
    lines = c.cmd(b"q6 EXPUNGE")
    check(b"* VANISHED 4\r\n" in lines, "EXPUNGE under QRESYNC: %r" % lines)
    c.cmd(b"q7 LOGOUT")
    c.close_after_logout()
    # Connection 2: resynchronise from the old modseq.
    d = RawClient(host, port)
    d.cmd(b"r1 LOGIN alice password")
    d.cmd(b"r2 ENABLE QRESYNC")
    lines = d.cmd(b"r3 SELECT INBOX (QRESYNC (%d %d))" % (uidvalidity, modseq))
    check(b"* VANISHED (EARLIER) 4\r\n" in lines, "no VANISHED (EARLIER) in %r" % lines)
    check(any(b"FETCH (UID 2 " in l and b"MODSEQ" in l for l in lines), "no FETCH MODSEQ for UID 2 in %r" % lines)
    lines = d.cmd(b"r4 UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % modseq)
    check(any(l.startswith(b"* VANISHED (EARLIER)") for l in lines), "UID FETCH VANISHED: %r" % lines)
    d.cmd(b"r5 LOGOUT")
    d.close_after_logout()
    return [bytes(c.sent), bytes(d.sent)]


def _until(c, tag, status):
    """Lines up to `tag`'s completion, which must have `status` (OK, NO or BAD)."""
    lines = []
    while True:
        line = c.readline()
        check(line, "connection closed while waiting for %r" % tag)
        lines.append(line)
        if line.startswith(tag + b" "):
            check(line.startswith(tag + b" " + status + b" "), "%r: expected %s, got %r" % (tag, status, line))
            return lines


def sc_errors_idle(dc, host, port):
    """A session with refusals, a pipelined burst and an IDLE that sees a delivery (the report's
    screenshot): SELECT of a missing mailbox (NO), FETCH without arguments (BAD), three commands
    sent at once, IDLE for about two seconds with a message delivered in the middle."""
    c = RawClient(host, port)
    c.cmd(b"e1 LOGIN alice password")
    c.send(b"e2 SELECT Archive/2019\r\n")
    _until(c, b"e2", b"NO")
    c.send(b"e3 FETCH\r\n")
    _until(c, b"e3", b"BAD")
    c.cmd(b"e4 SELECT INBOX")
    c.send(b"e5 FETCH 1:3 (FLAGS)\r\ne6 UID FETCH 1:* (UID RFC822.SIZE)\r\ne7 NOOP\r\n")
    _until(c, b"e7", b"OK")
    c.send(b"e8 STORE 9 +FLAGS (\\Seen)\r\n")
    _until(c, b"e8", b"BAD")
    c.send(b"e9 IDLE\r\n")
    check(c.readline().startswith(b"+"), "IDLE: no continuation")
    time.sleep(1.2)
    dc.deliver(USER, fixed_message("Delivered while idling", date="Mon, 15 Jan 2024 11:00:00 +0000"),
               mtime=1705316400)
    while True:
        line = c.readline()
        check(line, "connection closed during IDLE")
        if line == b"* 4 EXISTS\r\n":
            break
    time.sleep(1.0)
    c.send(b"DONE\r\n")
    _until(c, b"e9", b"OK")
    c.cmd(b"e10 LOGOUT")
    c.close_after_logout()
    return [bytes(c.sent)]


MBSYNC_CONFIG = """\
IMAPAccount fixture
Host {host}
Port {port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN

IMAPStore fixture-remote
Account fixture

MaildirStore fixture-local
Path {local}/
Inbox {local}/INBOX

Channel fixture-inbox
Far :fixture-remote:INBOX
Near :fixture-local:INBOX
Create Near
Sync Pull
SyncState *
"""


def sc_mbsync(dc, host, port):
    mbsync = require("mbsync", "isync")
    tmp = tempfile.mkdtemp(prefix="imapscope-mbsync-")
    try:
        local = os.path.join(tmp, "local")
        os.makedirs(local)
        conf = os.path.join(tmp, "mbsyncrc")
        with open(conf, "w") as f:
            f.write(MBSYNC_CONFIG.format(host=host, port=port, user=USER, password=PASSWORD, local=local))
        os.chmod(conf, 0o600)
        r = subprocess.run([mbsync, "-c", conf, "fixture-inbox"], capture_output=True, timeout=60,
                           env=dict(os.environ, HOME=tmp))
        check(r.returncode == 0, "mbsync exited %d: %s%s" % (r.returncode, r.stdout.decode(errors="replace"),
                                                             r.stderr.decode(errors="replace")))
        got = []
        for sub in ("cur", "new"):
            d = os.path.join(local, "INBOX", sub)
            for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                with open(os.path.join(d, n), "rb") as f:
                    got.append(re.sub(rb"(?m)^X-TUID: .*\n", b"", f.read()))
        # mbsync stores Maildir messages with LF line ends and its own X-TUID header.
        want = [seed_message(i).replace(b"\r\n", b"\n") for i in range(1, 6)]
        check(sorted(got) == sorted(want), "mbsync synced %d messages, not the 5 seeded ones" % len(got))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


SCENARIOS = [
    # (pcap name, seeded messages, TCP connections, IPv6, client driver)
    ("pcap-login-select-fetch", 5, 1, False, partial(login_select_fetch, tag_seed=2001)),
    ("pcap-append-literals", 2, 1, False, partial(append_literals, tag_seed=2002)),
    ("pcap-idle-delivery", 3, 1, False, partial(idle_delivery, tag_seed=2003)),
    ("pcap-auth-plain", 0, 1, False, partial(authenticate, tag_seed=2004, mechanism="PLAIN")),
    ("pcap-auth-login", 0, 1, False, partial(authenticate, tag_seed=2005, mechanism="LOGIN")),
    ("pcap-auth-cram-md5", 0, 1, False, partial(authenticate, tag_seed=2006, mechanism="CRAM-MD5")),
    ("pcap-compress", 3, 1, False, compress_deflate),
    ("pcap-starttls", 0, 1, False, sc_starttls),
    ("pcap-ipv6", 3, 1, True, partial(sc_ipv6, tag_seed=2007)),
    ("pcap-condstore-qresync", 5, 2, False, sc_condstore_qresync),
    ("pcap-curl", 3, 1, False, curl_fetch),
    ("pcap-mbsync", 5, 1, False, sc_mbsync),
    ("pcap-errors-idle", 3, 1, False, sc_errors_idle),
]


# Programs a scenario's client needs besides python3 (checked before Dovecot starts),
# with the package that has it when its name is not the program's.
NEEDS = {"pcap-starttls": ("openssl",), "pcap-curl": ("curl",), "pcap-mbsync": ("mbsync", "isync")}


def run(entry, out_dir, versions):
    name, seed, connections, v6, driver = entry
    path = os.path.join(out_dir, name + ".pcap")
    require("tcpdump")
    if name in NEEDS:
        require(*NEEDS[name])
    with seeded_dovecot(seed, versions, ipv6=v6) as dc:
        dump = Tcpdump(path, dc.imap_port).start()
        try:
            sent = driver(dc, V6 if v6 else V4, dc.imap_port)
        except BaseException:
            dump.stop(settle=0)
            raise  # Dovecot's __exit__ prints its log
        captured, dropped = dump.stop()
    check(dropped == 0, "%s: tcpdump: %d packets dropped by kernel" % (name, dropped))
    packets = verify_pcap(path, connections, v6, sent)
    check(packets == captured, "%s: tcpdump captured %d packets, the file holds %d" % (name, captured, packets))
    return ["%-24s %4d packets %8d B" % (name + ".pcap", packets, os.path.getsize(path))]


def main(argv=None):
    return recorder_main(
        argv, "Record real-client <-> Dovecot packet captures with tcpdump",
        "pcap names (default: all)", SCENARIOS,
        names=lambda entry: {entry[0]},
        list_line=lambda entry: "%-26s %s, %d seeded, %d connection(s)" % (
            entry[0] + ".pcap", "::1" if entry[3] else "127.0.0.1", entry[1], entry[2]),
        record=run, width=24,
        normalize=lambda arg: arg[:-5] if arg.endswith(".pcap") else arg,
        root_for="it starts Dovecot and tcpdump")


if __name__ == "__main__":
    sys.exit(main())
