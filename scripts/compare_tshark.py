#!/usr/bin/env python3
"""Count IMAP commands per name as imapscope sees them and as tshark sees them.

    python3 scripts/compare_tshark.py                       # every Captures/*.pcap
    python3 scripts/compare_tshark.py a.pcap b.pcapng       # these files
    python3 scripts/compare_tshark.py --details             # also list each unmatched line
    python3 scripts/compare_tshark.py --imapscope .build/debug/imapscope

imapscope: `imapscope read FILE --format jsonl`, events with kind == "command", counted by
name, with "UID " in front when uid is true (UID FETCH is name FETCH, uid true).

tshark: `tshark -r FILE -Y imap.request -T fields -e imap.request ...`, every line tshark's
IMAP dissector classed as a request, split like the dissector does: the first token is the
tag, the second the command, and for "UID x" the command is "UID X". A line of one token
(IDLE's DONE, a bare base64 SASL response) has no command: it is counted as "<no command>".
The dissector's own imap.request.command field is cross-checked against that split.
tshark only dissects IMAP on port 143 by default; the captures in Captures/ use whatever port
the private Dovecot got, so every server port of a plaintext session imapscope reports in a
session-start event (plus 143) is passed to tshark as `-d tcp.port==N,imap`.

The table has one row per command name: imapscope's count, tshark's count, and "<<" where they
differ. With --details, the lines behind each difference are listed: request lines tshark
counted that imapscope did not report as a command (frame number, tag, line), and commands
imapscope reported that tshark did not (frame number found by timestamp, line). Passwords,
SASL payloads and LOGIN arguments are shown as ***.

Standard library only. Needs tshark (apt-get install tshark) and a built imapscope.
"""

import argparse
import collections
import datetime
import glob
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGG = "\x1f"          # separates several occurrences of one field in one frame
NO_COMMAND = "<no command>"


def find_imapscope(given):
    if given:
        return given
    for p in ("release", "debug"):
        path = os.path.join(ROOT, ".build", p, "imapscope")
        if os.access(path, os.X_OK):
            return path
    sys.exit("compare_tshark.py: no imapscope binary; run `swift build -c release --product imapscope`")


B64_LINE = re.compile(r"^[A-Za-z0-9+/]+=*$")


def printable(line):
    """Bytes that are not printable ASCII (e.g. DEFLATE data) as \\xNN; tshark's U+FFFD kept."""
    raw = line.encode("utf-8", errors="surrogateescape")
    raw = raw.replace("\ufffd".encode(), b"\x00\xff")   # tshark's U+FFFD for bytes it could not show
    out, i = [], 0
    while i < len(raw):
        b = raw[i]
        if raw[i:i + 2] == b"\x00\xff":
            out.append("\ufffd"); i += 2; continue
        out.append(chr(b) if 32 <= b < 127 else "\\x%02x" % b); i += 1
    return "".join(out)


def redact(line):
    """Hide passwords and SASL payloads in a command line (for display only)."""
    line = printable(line)
    toks = line.split(" ")
    if len(toks) >= 2:
        cmd = toks[1].upper()
        if cmd == "LOGIN" and len(toks) >= 3:
            return " ".join(toks[:3]) + " ***"
        if cmd == "AUTHENTICATE" and len(toks) >= 4:
            return " ".join(toks[:3]) + " ***"
    if len(line) >= 4 and B64_LINE.match(line) and line.upper() != "DONE":
        return "*** (%d characters of base64)" % len(line)
    if len(toks) == 2 and re.fullmatch(r"[0-9a-f]{32}", toks[1]):      # CRAM-MD5 "user digest"
        return toks[0] + " ***"
    return line if len(line) <= 120 else line[:117] + "..."


def imapscope_view(binary, path):
    out = subprocess.run([binary, "read", path, "--format", "jsonl"], capture_output=True, check=False)
    if out.returncode != 0:
        sys.exit("imapscope failed on %s: %s" % (path, out.stderr.decode(errors="replace")))
    commands, ports, kinds = [], set(), collections.Counter()
    clients, marks = {}, []      # session -> client port; client-side non-command events
    for raw in out.stdout.splitlines():
        e = json.loads(raw)
        kinds[e["kind"]] += 1
        if e["kind"] == "session-start" and e.get("transport", "plaintext") == "plaintext":
            ports.add(int(e["server"].rsplit(":", 1)[1]))     # implicit TLS (993) is not IMAP to tshark
            clients[e["session"]] = int(e["client"].rsplit(":", 1)[1])
        elif e["kind"] in ("idle-done", "compress") or (e["kind"] == "sasl" and e.get("dir") == "client"):
            marks.append({"kind": e["kind"], "session": e["session"], "time": e["time"], "step": e.get("step")})
        elif e["kind"] == "command":
            name = ("UID " if e.get("uid") else "") + e["name"]
            commands.append({"session": e["session"], "tag": e.get("tag", ""), "name": name,
                             "line": e.get("line", ""), "time": e["time"]})
    return commands, ports, kinds, clients, marks


def split_request(line):
    toks = line.split()
    if len(toks) < 2:
        return (toks[0] if toks else ""), NO_COMMAND
    cmd = toks[1].upper()
    if cmd == "UID" and len(toks) >= 3:
        cmd = "UID " + toks[2].upper()
    return toks[0], cmd


def tshark_view(path, ports, tshark="tshark"):
    decode = []
    for p in sorted(ports | {143}):
        decode += ["-d", "tcp.port==%d,imap" % p]
    args = [tshark, "-r", path, *decode, "-Y", "imap.request", "-T", "fields",
            "-E", "occurrence=a", "-E", "aggregator=" + AGG, "-E", "separator=\t",
            "-e", "frame.number", "-e", "tcp.srcport", "-e", "imap.request", "-e", "imap.request.command",
            "-e", "imap.request.command.uid"]
    out = subprocess.run(args, capture_output=True, check=False)
    if out.returncode != 0:
        sys.exit("tshark failed on %s: %s" % (path, out.stderr.decode(errors="replace")))
    requests, own = [], collections.Counter()
    own_uid = 0
    for raw in out.stdout.decode("utf-8", errors="surrogateescape").splitlines():
        cols = raw.split("\t")
        cols += [""] * (5 - len(cols))
        frame, sport, lines, cmds, uids = cols[:5]
        for line in lines.split(AGG):
            tag, cmd = split_request(line)
            requests.append({"frame": int(frame), "port": int(sport or 0), "tag": tag, "name": cmd, "line": line})
        # imap.request.command is "FETCH" for "UID FETCH"; imap.request.command.uid is only
        # present on UID commands, so the two lists cannot be zipped: count them apart.
        for c in cmds.split(AGG) if cmds else []:
            own[c.upper()] += 1
        own_uid += sum(1 for u in (uids.split(AGG) if uids else []) if u in ("1", "True", "TRUE"))
    return requests, (own, own_uid), decode


def frame_times(path, decode, tshark="tshark"):
    """(epoch microseconds) -> [frame numbers] for TCP frames carrying payload."""
    args = [tshark, "-r", path, *decode, "-Y", "tcp.len > 0", "-T", "fields",
            "-e", "frame.number", "-e", "frame.time_epoch"]
    out = subprocess.run(args, capture_output=True, check=False, text=True)
    table = collections.defaultdict(list)
    for raw in out.stdout.splitlines():
        n, t = raw.split("\t")
        table[round(float(t) * 1e6)].append(int(n))
    return table


def event_micros(ts):
    d = datetime.datetime.strptime(ts.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    return round(d.timestamp() * 1e6)


class Hints:
    """What imapscope's own events say about a line the two tools disagree on."""

    def __init__(self, cmds, marks, clients, frame_of):
        self.frame_of = frame_of
        self.session_of_port = {p: s for s, p in clients.items()}
        self.cmds = collections.defaultdict(list)
        for c in cmds:
            self.cmds[c["session"]].append((frame_of(c), c))
        self.marks = collections.defaultdict(list)
        for m in marks:
            self.marks[m["session"]].append((frame_of(m), m))

    def compressed_after(self, session):
        return min((f for f, m in self.marks[session] if m["kind"] == "compress"), default=None)

    def tshark_only(self, r):
        s = self.session_of_port.get(r["port"])
        if s is None:
            return "not in any plaintext IMAP session imapscope reported"
        for f, m in self.marks[s]:
            if f == r["frame"] and m["kind"] == "idle-done":
                return "IDLE's DONE, which ends IDLE and is not a command (RFC 2177); imapscope: idle-done event"
            if f == r["frame"] and m["kind"] == "sasl":
                return ("a SASL response line answering a '+' challenge (RFC 3501 6.2.2), not a command; "
                        "imapscope: sasl event, step %s" % m["step"])
        c = self.compressed_after(s)
        if c is not None and r["frame"] > c:
            return ("DEFLATE-compressed bytes after COMPRESS DEFLATE took effect (frame %d, RFC 4978), "
                    "which tshark does not inflate" % c)
        later = [(f, cmd) for f, cmd in self.cmds[s] if f >= r["frame"]]
        if later:
            f, cmd = min(later, key=lambda x: x[0])
            lit = re.search(r"\{(\d+)\+?\}", cmd["line"])
            if lit:
                return ("inside the %s-byte literal of %s %s (completed in frame %d), which is data, "
                        "not a command line" % (lit.group(1), cmd["tag"], cmd["name"], f))
        return "no imapscope event explains it: look at the bytes"

    def imapscope_only(self, c):
        c0 = self.compressed_after(c["session"])
        if c0 is not None and self.frame_of(c) > c0:
            return ("sent DEFLATE-compressed after COMPRESS DEFLATE (frame %d): imapscope inflates, "
                    "tshark does not" % c0)
        return "no imapscope event explains it: look at the bytes"


def compare(path, binary, details, tshark):
    cmds, ports, kinds, clients, marks = imapscope_view(binary, path)
    reqs, own, decode = tshark_view(path, ports, tshark)
    ic = collections.Counter(c["name"] for c in cmds)
    tc = collections.Counter(r["name"] for r in reqs)
    names = sorted(set(ic) | set(tc), key=lambda n: (n == NO_COMMAND, n))
    print("== %s  (imapscope: %d sessions, %d commands; tshark: %d request lines, decoding %s)"
          % (os.path.relpath(path), kinds["session-start"], len(cmds), len(reqs),
             ", ".join(d.split("==")[1].split(",")[0] for d in decode[1::2]) and
             "TCP port " + ", ".join(d.split("==")[1].split(",")[0] for d in decode[1::2]) + " as IMAP"))
    shown = {n: printable(n) if len(printable(n)) <= 32 else printable(n)[:29] + "..." for n in names}
    w = max([len(v) for v in shown.values()] + [12])
    print("  %-*s %10s %7s  %s" % (w, "command", "imapscope", "tshark", "diff"))
    ndiff = 0
    for n in names:
        a, b = ic.get(n, 0), tc.get(n, 0)
        flag = "" if a == b else "<< %+d" % (b - a)
        ndiff += a != b
        print("  %-*s %10d %7d  %s" % (w, shown[n], a, b, flag))
    print("  %-*s %10d %7d  %s" % (w, "total", len(cmds), len(reqs), "" if len(cmds) == len(reqs) else "<<"))
    own_split = collections.Counter(r["name"].replace("UID ", "", 1) for r in reqs if r["name"] != NO_COMMAND)
    uid_split = sum(1 for r in reqs if r["name"].startswith("UID "))
    if own != (own_split, uid_split):
        print("  note: tshark's own imap.request.command field counts differently: %s; %d with UID"
              % (", ".join("%s %d" % kv for kv in sorted(own[0].items())), own[1]))
    if details and ndiff:
        # Match commands to request lines by (tag, name), in order; what is left over differs.
        pool = collections.defaultdict(list)
        for r in reqs:
            pool[(r["tag"], r["name"])].append(r)
        left_cmds = []
        for c in cmds:
            if pool.get((c["tag"], c["name"])):
                pool[(c["tag"], c["name"])].pop(0)
            else:
                left_cmds.append(c)
        left_reqs = sorted((r for v in pool.values() for r in v), key=lambda r: r["frame"])
        times = frame_times(path, decode, tshark)
        frame_of = lambda ev: max(times.get(event_micros(ev["time"]), [0]))
        why = Hints(cmds, marks, clients, frame_of)
        for r in left_reqs:
            print("    tshark only:    frame %-5d %-14s %s\n%20s-> %s" % (r["frame"], shown[r["name"]][:14], redact(r["line"]),
                                                                   "", why.tshark_only(r)))
        for c in left_cmds:
            frames = times.get(event_micros(c["time"]), [])
            where = "frame %s" % "/".join(map(str, frames)) if frames else "time %s" % c["time"]
            print("    imapscope only: %-11s %-14s %s  (%s)\n%20s-> %s" % (where, c["name"], redact(c["line"]), c["session"],
                                                                       "", why.imapscope_only(c)))
    print()
    return ndiff


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", help="captures (default: Captures/*.pcap)")
    ap.add_argument("--imapscope", help="imapscope binary (default: .build/release, else .build/debug)")
    ap.add_argument("--tshark", default="tshark")
    ap.add_argument("--details", action="store_true", help="list the lines behind each difference")
    a = ap.parse_args()
    files = a.files or sorted(glob.glob(os.path.join(ROOT, "Captures", "*.pcap")))
    if not files:
        sys.exit("compare_tshark.py: no captures (Captures/*.pcap is empty)")
    binary = find_imapscope(a.imapscope)
    differing = sum(1 for f in files if compare(f, binary, a.details, a.tshark))
    print("%d of %d captures differ" % (differing, len(files)))


if __name__ == "__main__":
    main()
