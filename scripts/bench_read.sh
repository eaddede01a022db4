#!/usr/bin/env bash
# bench_read.sh — `imapscope read --format jsonl FILE > /dev/null` against tshark and a bare
# libpcap read, on two shapes of capture; prints one Markdown table on stdout.
#
# Usage: scripts/bench_read.sh            (as root: the command-heavy capture is recorded from a
#                                          private Dovecot through tcpdump on lo)
#        scripts/bench_read.sh --record OUT.pcap MB   only record a command-heavy capture
#
# The two captures:
#   command-heavy  recorded from a real Dovecot (scripts/dovecot_fixture.py, SEED_MESSAGES in
#                  INBOX) by `tcpdump -i lo -U --immediate-mode -s 0 -w OUT 'tcp port PORT'`,
#                  started the way Captures/record_pcaps.py starts it (its Tcpdump class, which waits
#                  for "listening on"). One imaplib client on 127.0.0.1 syncs flags: LOGIN, SELECT
#                  INBOX, UID STORE (2 of 3 messages) +FLAGS.SILENT (\Seen), then rounds of
#                  UID STORE u +FLAGS (\Seen), NOOP, UID FETCH u (UID FLAGS), UID STORE u -FLAGS
#                  (\Seen), UID SEARCH UNSEEN, with a full UID FETCH 1:* (UID FLAGS) every FULL_EVERY
#                  rounds, until the file has CMD_MB, then LOGOUT. The defaults give about 1,900
#                  commands and 5,700 packets per MB (7 MB: about 12,700 commands in 10-20 s).
#                  The file is checked (no kernel drops, one connection, handshake, both FINs, no hole
#                  in either stream) with record_pcaps.py's verify_pcap.
#   bulk-fetch     scripts/bench_capture.sh --generate (synthetic: many sessions of UID FETCH
#                  BODY.PEEK[] with 2-200 KB literals, see its header), BULK_MB, SEED. It finishes the
#                  sessions it has started, so the file comes out larger than BULK_MB (100: 102.9 MB).
# Both are cached in BENCH_CACHE (default ${TMPDIR:-/tmp}/imapscope-bench-read) under names that
# carry their parameters, and reused by later runs; CMD_PCAP=path / BULK_PCAP=path use (or create)
# those files instead. Captures are never written into the repository.
#
# What is timed (RUNS rounds, each tool once per round, interleaved so that load from other work hits
# all tools alike; the best wall time is reported, and the largest peak RSS over the runs, from GNU
# `/usr/bin/time -f %M`; wall time from bash's EPOCHREALTIME around the command):
#   imapscope   IMAPSCOPE read --format jsonl --port PORT FILE > /dev/null
#               (--port: the capture's server port, so neither tool has to guess it)
#   tshark      tshark -n -r FILE -d tcp.port==PORT,imap -Y imap -T fields -e imap.request
#                 -e imap.response > /dev/null
#               Why this invocation: -Y imap needs the dissection tree of every packet, so the IMAP
#               dissector runs on every IMAP packet, and -T fields prints one line per IMAP packet
#               (its request or response line) -- the closest thing tshark has to one event per
#               message. It is the invocation scripts/bench_capture.sh and issue 10 use. -V or
#               -T json would mostly measure tshark's tree printer, not its dissector, and would be
#               unfair to it; -d makes the Dovecot's random port IMAP; -n: no name resolution
#               (imapscope resolves nothing either).
#   bare read   tcpdump -n -r FILE -w /dev/null
#               libpcap reads every record and pcap_dump writes it out again, with no dissection
#               and no printing: the floor for any tool that reads the file through libpcap.
#               (`tcpdump -nr FILE > /dev/null` would add tcpdump's own per-packet printer.)
# Each tool also runs RUNS times on an empty capture (a pcap header only); that start-up time is printed
# under the table, since on a few-MB capture it is part of every wall time.
#
# Columns: MB = 1,000,000 bytes; MB/s = file size / best wall time; CPU s = user + system time (GNU
# time %U + %S, 10 ms resolution), the smallest over the runs, which a busy machine disturbs less
# than wall time; events = lines of imapscope's output (a separate, untimed run writes them to a file),
# for tshark the lines it printed (one per IMAP packet: every TCP segment with payload, on both
# captures here); "tshark ÷ this" = tshark's best wall time divided by this row's (higher: this row
# is faster than tshark); "this ÷ bare" = this row's best wall time divided by the bare read's (how
# many bare reads one run costs).
# Under the table: the counts of unparsed (by reason), gap and lint (by code) events on each capture.
#
# Environment:
#   IMAPSCOPE=path            default: .build-release/release/imapscope, else .build/release/imapscope
#   IMAPSCOPE_BASELINE=path   also measure this binary (a second row per capture: before/after)
#   RUNS=3  CMD_MB=7  BULK_MB=100  SEED=1  SEED_MESSAGES=200  FULL_EVERY=25
#   BENCH_CACHE=dir  CMD_PCAP=path  BULK_PCAP=path
# The recording's client and Dovecot run under `nice -n 10`, its tcpdump at nice 0 with a 64 MiB buffer
# (a recording with kernel drops is refused); the timed runs use the caller's priority. Captures must be
# classic pcap (what tcpdump -w writes). Needs root only to record (Dovecot, tcpdump); tshark, tcpdump,
# python3 and /usr/bin/time always.
set -euo pipefail
export LC_ALL=C   # EPOCHREALTIME's decimal point

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${RUNS:-3}"
CMD_MB="${CMD_MB:-7}"
BULK_MB="${BULK_MB:-100}"
SEED="${SEED:-1}"
SEED_MESSAGES="${SEED_MESSAGES:-200}"
FULL_EVERY="${FULL_EVERY:-25}"
CACHE="${BENCH_CACHE:-${TMPDIR:-/tmp}/imapscope-bench-read}"

say() { echo "bench_read.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# The command-heavy recorder (python3, standard library + the repo's Dovecot fixture and tcpdump
# helper). argv: OUT MB SEED_MESSAGES FULL_EVERY. Writes OUT (atomically) and OUT.json.
# ---------------------------------------------------------------------------------------------
read -r -d '' RECORDER <<'PYEOF' || true
import imaplib, json, os, select, subprocess, sys, time
root, out, size_mb, seed_messages, full_every = sys.argv[1], sys.argv[2], float(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5])
sys.path[:0] = [os.path.join(root, "scripts"), os.path.join(root, "Captures")]
from dovecot_fixture import Dovecot, USER, PASSWORD
from record_pcaps import ScenarioError, Tcpdump, verify_pcap

class Recorder(Tcpdump):
    """record_pcaps.py's Tcpdump, started the same way (waits for "listening on"), with a 64 MiB
    kernel buffer (-B) and at nice 0 while the client and Dovecot run at nice 10: with the default
    2 MiB and a busy machine, tcpdump lost thousands of packets of a 7 MB recording."""

    def start(self, timeout=10):
        self.proc = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-B", "65536", "-s", "0", "-Z", "root",
             "-w", self.path, "tcp port %d" % self.port],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=lambda: os.setpriority(os.PRIO_PROCESS, 0, 0))
        deadline = time.monotonic() + timeout
        while b"listening on" not in self.stderr:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop(settle=0)
                raise ScenarioError("tcpdump did not start listening: %s" % self.stderr.decode(errors="replace"))
            if select.select([self.proc.stderr], [], [], left)[0]:
                self.stderr += os.read(self.proc.stderr.fileno(), 4096)
        return self

target = int(size_mb * 1_000_000)
part = out + ".part"
counts = {}

def run(m, name, *args):
    counts[name] = counts.get(name, 0) + 1
    typ, data = (m.uid(*args) if name.startswith("UID ") else getattr(m, name.lower())(*args))
    if typ != "OK":
        raise SystemExit("recorder: %s %r: %s %r" % (name, args, typ, data))
    return data

t0 = time.monotonic()
with Dovecot() as dc:
    dc.seed(USER, seed_messages)
    tcpdump = Recorder(part, dc.imap_port).start()
    try:
        m = imaplib.IMAP4("127.0.0.1", dc.imap_port)
        counts["CAPABILITY"] = 1   # imaplib asks on connect
        counts["LOGIN"] = 1
        m.login(USER, PASSWORD)
        run(m, "SELECT", "INBOX")
        # a third of the mailbox stays unseen, so UID SEARCH UNSEEN has a realistic answer
        seen = ",".join(str(u) for u in range(1, seed_messages + 1) if u % 3)
        run(m, "UID STORE", "STORE", seen, "+FLAGS.SILENT", "(\\Seen)")
        rounds = 0
        while os.path.getsize(part) < target:
            if rounds % full_every == 0:
                run(m, "UID FETCH 1:*", "FETCH", "1:*", "(UID FLAGS)")
            uid = str(rounds * 7 % seed_messages + 1)
            run(m, "UID STORE", "STORE", uid, "+FLAGS", "(\\Seen)")
            run(m, "NOOP")
            run(m, "UID FETCH", "FETCH", uid, "(UID FLAGS)")
            run(m, "UID STORE", "STORE", uid, "-FLAGS", "(\\Seen)")
            run(m, "UID SEARCH", "SEARCH", "UNSEEN")
            rounds += 1
        counts["LOGOUT"] = 1
        m.logout()
    finally:
        captured, dropped = tcpdump.stop()
    version = dc.version
if dropped != 0:
    raise SystemExit("recorder: tcpdump reports %d packets dropped by kernel; not using %s" % (dropped, part))
packets = verify_pcap(part, 1, False, None)
info = {"dovecot": version, "commands": sum(counts.values()), "by_command": counts, "rounds": rounds,
        "packets": packets, "bytes": os.path.getsize(part), "seed_messages": seed_messages,
        "full_every": full_every, "recorded_s": round(time.monotonic() - t0, 1),
        "recorded_at": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())}
with open(out + ".json", "w") as f:
    json.dump(info, f)
os.rename(part, out)
print("recorded %s: %.1f MB, %d packets, %d commands in %.1f s (Dovecot %s)"
      % (out, info["bytes"] / 1e6, packets, info["commands"], info["recorded_s"], version), file=sys.stderr)
PYEOF

record() {   # record OUT MB
  [[ $(id -u) == 0 ]] || die "recording the command-heavy capture needs root (Dovecot, tcpdump)"
  mkdir -p "$(dirname "$1")"
  nice -n 10 python3 -c "$RECORDER" "$ROOT" "$1" "$2" "$SEED_MESSAGES" "$FULL_EVERY"
}

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
if [[ "${1:-}" == "--record" ]]; then
  [[ $# == 3 ]] || die "usage: $0 --record OUT.pcap MB"
  record "$2" "$3"
  exit 0
fi
[[ $# == 0 ]] || die "usage: $0 | --record OUT.pcap MB | --help (parameters are environment variables)"

for tool in python3 tshark tcpdump; do command -v "$tool" >/dev/null || die "needs $tool"; done
[[ -x /usr/bin/time ]] || die "needs GNU time at /usr/bin/time (apt-get install time)"
if [[ -z "${IMAPSCOPE:-}" ]]; then
  IMAPSCOPE="$ROOT/.build-release/release/imapscope"
  [[ -x "$IMAPSCOPE" ]] || IMAPSCOPE="$ROOT/.build/release/imapscope"
fi
[[ -x "$IMAPSCOPE" ]] || die "no imapscope binary at $IMAPSCOPE (set IMAPSCOPE=path)"
if [[ -n "${IMAPSCOPE_BASELINE:-}" ]]; then
  [[ -x "$IMAPSCOPE_BASELINE" ]] || die "no baseline binary at $IMAPSCOPE_BASELINE"
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/imapscope-bench-read-run.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the captures ---------------------------------------------------------------------------
CMD_PCAP="${CMD_PCAP:-$CACHE/command-heavy-${CMD_MB}MB-${SEED_MESSAGES}msgs-full${FULL_EVERY}.pcap}"
BULK_PCAP="${BULK_PCAP:-$CACHE/bulk-fetch-${BULK_MB}MB-seed${SEED}.pcap}"
if [[ -s "$CMD_PCAP" ]]; then
  say "reusing $CMD_PCAP"
else
  say "recording $CMD_PCAP (${CMD_MB} MB from a private Dovecot; 10-20 s for 7 MB here)"
  record "$CMD_PCAP" "$CMD_MB"
fi
if [[ -s "$BULK_PCAP" ]]; then
  say "reusing $BULK_PCAP"
else
  say "generating $BULK_PCAP (${BULK_MB} MB)"
  mkdir -p "$(dirname "$BULK_PCAP")"
  "$ROOT/scripts/bench_capture.sh" --generate "$BULK_PCAP.part" "$BULK_MB" "$SEED"
  mv "$BULK_PCAP.part" "$BULK_PCAP"
fi

server_port() {   # the destination port of the first SYN in a classic pcap (Ethernet, IPv4/IPv6)
  python3 - "$1" <<'EOF'
import struct, sys
with open(sys.argv[1], "rb") as f:
    head = f.read(24)
    e = "<" if head[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    while True:
        rec = f.read(16)
        if len(rec) < 16:
            sys.exit("no SYN in " + sys.argv[1])
        frame = f.read(struct.unpack(e + "IIII", rec)[2])
        etype = frame[12:14]
        if etype == b"\x08\x00":
            tcp = frame[14 + (frame[14] & 15) * 4:]
        elif etype == b"\x86\xdd":
            tcp = frame[54:]
        else:
            continue
        if frame[23 if etype == b"\x08\x00" else 20] == 6 and tcp[13] & 0x12 == 0x02:
            print(struct.unpack(">H", tcp[2:4])[0])
            break
EOF
}

# ---- measuring --------------------------------------------------------------------------------
# run_once ID CMD... : one timed run, stdout to /dev/null; appends "ID wall_s max_rss_kb cpu_s" to
# $TMP/results. The report takes each ID's best wall time, largest RSS and smallest CPU time. Runs
# are interleaved (every tool once, then every tool again, ...), so that a burst of load from other
# work hits all tools alike.
run_once() {
  local id="$1" t0 t1 wall kb cpu; shift
  t0=$EPOCHREALTIME
  /usr/bin/time -f "%M %U %S" -o "$TMP/time" "$@" > /dev/null 2> "$TMP/stderr" ||
    { cat "$TMP/stderr" >&2; die "'$*' failed"; }
  t1=$EPOCHREALTIME
  wall=$(python3 -c "print('%.3f' % ($t1 - $t0))")
  read -r kb cpu < <(tail -1 "$TMP/time" | awk '{printf "%d %.2f\n", $1, $2 + $3}')
  say "  $id: $wall s, $((kb / 1024)) MB, CPU $cpu s"
  echo "$id $wall $kb $cpu" >> "$TMP/results"
}

# The binaries are copied first: a build that replaces one in the middle of the run (it happened here)
# would otherwise mix two builds in one row. The report names the original path and the copy's digest.
copy_binary() {   # copy_binary NAME PATH: appends NAME=copy to BINARIES, "NAME PATH" to $TMP/binaries
  cp -p "$2" "$TMP/$1"
  BINARIES+=("$1=$TMP/$1")
  echo "$1 $2" >> "$TMP/binaries"
}
BINARIES=()
copy_binary imapscope "$IMAPSCOPE"
[[ -n "${IMAPSCOPE_BASELINE:-}" ]] && copy_binary baseline "$IMAPSCOPE_BASELINE"

tshark_argv() {   # tshark_argv FILE PORT: sets TSHARK_ARGV
  TSHARK_ARGV=(tshark -n -r "$1" -d "tcp.port==$2,imap" -Y imap -T fields -e imap.request -e imap.response)
}

EMPTY="$TMP/empty.pcap"
python3 -c 'import struct, sys
open(sys.argv[1], "wb").write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))' "$EMPTY"

# run_all SHAPE FILE PORT: RUNS rounds of every tool on FILE
run_all() {
  local shape="$1" cap="$2" port="$3" r b
  tshark_argv "$cap" "$port"
  for ((r = 1; r <= RUNS; r++)); do
    say "== $shape, round $r of $RUNS"
    for b in "${BINARIES[@]}"; do
      run_once "$shape/${b%%=*}" "${b#*=}" read --format jsonl --port "$port" "$cap"
    done
    run_once "$shape/tshark" "${TSHARK_ARGV[@]}"
    run_once "$shape/bare" tcpdump -n -r "$cap" -w /dev/null
  done
}

for shape in command-heavy bulk-fetch; do
  if [[ $shape == command-heavy ]]; then cap="$CMD_PCAP"; else cap="$BULK_PCAP"; fi
  port=$(server_port "$cap")
  echo "$shape $cap $port $(stat -c %s "$cap")" >> "$TMP/captures"
  say "== $shape: $cap (server port $port)"
  run_all "$shape" "$cap" "$port"
  # untimed: what each tool printed, for the events columns and the sanity check
  for b in "${BINARIES[@]}"; do
    "${b#*=}" read --format jsonl --port "$port" "$cap" > "$TMP/events.$shape.${b%%=*}.jsonl"
  done
  "${TSHARK_ARGV[@]}" 2> /dev/null | wc -l > "$TMP/tshark-lines.$shape"
done
run_all startup "$EMPTY" 143

# ---- the report -------------------------------------------------------------------------------
python3 - "$TMP" "$RUNS" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)" \
  "$(tshark --version 2> /dev/null | head -1)" "$(tcpdump --version 2>&1 | head -1)" "$CMD_PCAP.json" \
  "${BINARIES[@]}" <<'EOF'
import collections, hashlib, json, os, sys, time
tmp, runs, load0, load1, cores, tshark_v, tcpdump_v, cmd_info = sys.argv[1:9]
binaries = [b.split("=", 1) for b in sys.argv[9:]]
results = {}   # id -> (best wall, largest RSS, smallest CPU)
for line in open(os.path.join(tmp, "results")):
    key, wall, rss, cpu = line.split()
    old = results.get(key, (float("inf"), 0, float("inf")))
    results[key] = (min(old[0], float(wall)), max(old[1], int(rss)), min(old[2], float(cpu)))
captures = [line.split() for line in open(os.path.join(tmp, "captures"))]

def events(shape, name):
    commands, unparsed, lints, gaps, n = 0, collections.Counter(), collections.Counter(), [], 0
    with open(os.path.join(tmp, "events.%s.%s.jsonl" % (shape, name)), "rb") as f:
        for line in f:
            n += 1
            commands += b'"kind":"command"' in line
            if b'"kind":"unparsed"' in line or b'"kind":"gap"' in line or b'"kind":"lint"' in line:
                e = json.loads(line)
                if e["kind"] == "unparsed":
                    unparsed[e.get("reason", "?")] += 1
                elif e["kind"] == "lint":
                    lints[e.get("code", "?")] += 1
                else:
                    gaps.append(e)
    return n, commands, unparsed, gaps, lints

print("imapscope read vs tshark vs a bare libpcap read (%s, %s cores, load average %s before and %s after; "
      "best of %s runs)" % (time.strftime("%Y-%m-%d %H:%MZ", time.gmtime()), cores, load0, load1, runs))
print()
print("| capture | size MB | tool | wall s | CPU s | MB/s | peak RSS MB | events | events/s "
      "| tshark ÷ this | this ÷ bare |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
sanity = []
for shape, path, port, size in captures:
    size = int(size)
    ts, bare = results[shape + "/tshark"][0], results[shape + "/bare"][0]
    rows = [(name, "imapscope" if name == "imapscope" else "imapscope (baseline)") for name, _ in binaries]
    rows += [("tshark", "tshark"), ("bare", "bare read (tcpdump -w /dev/null)")]
    for key, label in rows:
        wall, rss, cpu = results["%s/%s" % (shape, key)]
        if key == "bare":
            ev = evs = "—"
        elif key == "tshark":
            n = int(open(os.path.join(tmp, "tshark-lines." + shape)).read())
            ev, evs = "{:,} lines".format(n), "{:,.0f}".format(n / wall)
        else:
            n, commands, unparsed, gaps, lints = events(shape, key)
            ev, evs = "{:,}".format(n), "{:,.0f}".format(n / wall)
            sanity.append((shape, label, n, commands, unparsed, gaps, lints))
        print("| %s | %.1f | %s | %.3f | %.2f | %.1f | %.1f | %s | %s | %.1f× | %.1f× |"
              % (shape, size / 1e6, label, wall, cpu, size / 1e6 / wall, rss / 1024, ev, evs, ts / wall, wall / bare))
print()
start = ", ".join("%s %.3f s" % (k.split("/", 1)[1], v[0]) for k, v in results.items() if k.startswith("startup/"))
print("Start-up (each tool on an empty capture, best of %s): %s." % (runs, start))
sent = None
for shape, path, port, size in captures:
    extra = ""
    if shape == "command-heavy" and os.path.exists(cmd_info):
        info = json.load(open(cmd_info))
        sent = info["commands"]
        extra = ("; recorded %s from Dovecot %s: %s commands (%s), %s packets"
                 % (info["recorded_at"], info["dovecot"], "{:,}".format(info["commands"]),
                    ", ".join("%s %s" % (k, "{:,}".format(v)) for k, v in info["by_command"].items()),
                    "{:,}".format(info["packets"])))
    print("- %s: `%s`, server port %s%s" % (shape, path, port, extra))
originals = dict(line.split(" ", 1) for line in open(os.path.join(tmp, "binaries")).read().splitlines())
for name, copy in binaries:
    with open(copy, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    print("- %s: `%s` (%.1f MB, modified %s, sha256 %s…; timed as a copy taken at the start)"
          % (name, originals[name], os.path.getsize(copy) / 1e6,
             time.strftime("%Y-%m-%d %H:%MZ", time.gmtime(os.path.getmtime(copy))), digest))
print("- %s; %s" % (tshark_v.rstrip("."), tcpdump_v))
print()
print("Decoder sanity (events in imapscope's output):")
print()
for shape, label, n, commands, unparsed, gaps, lints in sanity:
    fmt = lambda c: ", ".join("%s %d" % kv for kv in sorted(c.items())) or "none"
    gap = "none" if not gaps else "%d (missing bytes %d)" % (len(gaps), sum(g.get("missing", 0) for g in gaps))
    if shape == "command-heavy" and sent is not None:
        verdict = "same" if commands == sent else "DIFFERENT"
        commands = "{:,} (the recorder sent {:,}: {})".format(commands, sent, verdict)
    else:
        commands = "{:,}".format(commands)
    print("- %s, %s: %s events, command events %s; unparsed by reason: %s; gap: %s; lint by code: %s"
          % (shape, label, "{:,}".format(n), commands, fmt(unparsed), gap, fmt(lints)))
EOF
