#!/usr/bin/env bash
# bench_capture.sh — throughput and peak-memory benchmark of `imapscope read` on a large
# synthetic capture of plaintext IMAP, side by side with tshark.
#
# Usage: scripts/bench_capture.sh [SIZE_MB]          (default 300)
#
# Environment knobs:
#   BIG_MB=1024            size of the peak-memory capture (0 = skip that step)
#   TSHARK_LIMIT_S=600     if tshark needs longer than this on SIZE_MB, it is measured on a
#                          TSHARK_PREFIX_MB capture generated the same way instead
#   TSHARK_PREFIX_MB=50
#   RUNS=2                 runs per measurement; the fastest is reported
#   IMAPSCOPE=path         use this binary instead of building .build/release/imapscope
#   SKIP_BUILD=1           do not run `swift build` (the binary must exist)
#   BENCH_TMP=dir          where the captures go (default: a fresh mktemp -d under $TMPDIR
#                          or /tmp); it is deleted on exit unless KEEP=1
#   SEED=1                 generator seed (same seed + same size = same file)
#
# MB = 1,000,000 bytes; MB/s = capture file size / wall-clock time of the best run.
# The synthetic capture: classic pcap, Ethernet/IPv4/TCP (checksums correct), many
# connections to port 143 interleaved at segment granularity, each a full session with a
# 3-way handshake, greeting, LOGIN, SELECT, UID FETCH (FLAGS), FETCH responses carrying
# 2–200 KB literals cut into segments of at most 1448 bytes, NOOP, UID STORE, UID SEARCH,
# IDLE/DONE, LOGOUT and a FIN exchange; delayed ACKs every second segment.
#
# The generator alone:  scripts/bench_capture.sh --generate OUT.pcap SIZE_MB [SEED]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# ---------------------------------------------------------------------------------------------
# The generator (python3, standard library only)
# ---------------------------------------------------------------------------------------------
read -r -d '' GENERATOR <<'PYEOF' || true
import random, struct, sys, time, base64

out_path, size_mb = sys.argv[1], float(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
target = int(size_mb * 1_000_000)
rng = random.Random(seed)

MSS = 1448            # payload per segment (1460 minus 12 bytes of TCP timestamp option)
CONCURRENT = 6        # connections open at once, interleaved
BURST = 12            # max segments one connection sends before the scheduler switches
SERVER_IP = bytes([127, 0, 0, 1])
CLIENT_IP = bytes([127, 0, 0, 1])
SERVER_PORT = 143
ETH_C2S = b"\x00" * 6 + b"\x00" * 6 + b"\x08\x00"     # loopback: zero MACs
ETH_S2C = ETH_C2S

# ---- content pools, built once ---------------------------------------------------------------
WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at "
         "which but have an they you were her she there been one all we their has would when if "
         "so no will more about mailbox server client message folder sync flags seen draft "
         "meeting tomorrow report attached please review thanks regards quarterly budget").split()
text_lines = []
for _ in range(20000):
    line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 13)))
    text_lines.append(line[:76].capitalize().encode() + b"\r\n")
TEXT_POOL = b"".join(text_lines)
B64_LINE = 78   # 76 characters + CRLF
raw = rng.randbytes(3 * 1024 * 1024) if hasattr(rng, "randbytes") else bytes(rng.getrandbits(8) for _ in range(3 << 20))
b64 = base64.b64encode(raw)
B64_POOL = b"".join(b64[i:i + 76] + b"\r\n" for i in range(0, len(b64) - 76, 76))
B64_LINES = len(B64_POOL) // B64_LINE

def message(uid, size):
    """An RFC 5322 message of about `size` bytes (text, plus a base64 attachment if large)."""
    boundary = b"=_b%08x" % rng.getrandbits(32)
    hdr = (b"Return-Path: <sender%d@example.org>\r\n"
           b"Received: from mx.example.org by imap.example.net with LMTP id %08x; Wed, 01 May 2024 10:%02d:%02d +0000\r\n"
           b"From: Sender %d <sender%d@example.org>\r\n"
           b"To: user@example.net\r\n"
           b"Subject: Synthetic message %d about the quarterly report\r\n"
           b"Date: Wed, 01 May 2024 10:%02d:%02d +0000\r\n"
           b"Message-ID: <%d.%08x@example.org>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"" + boundary + b"\"\r\n\r\n") % (
        uid % 97, rng.getrandbits(32), uid % 60, uid % 59, uid % 97, uid % 97, uid,
        uid % 60, uid % 59, uid, rng.getrandbits(32))
    parts = [hdr, b"--", boundary, b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"]
    text_len = min(max(size // 4, 600), size - len(hdr) - 200) if size > 4000 else size - len(hdr) - 150
    text_len = max(text_len, 100)
    off = rng.randrange(0, len(TEXT_POOL) - text_len - 1)
    nl = TEXT_POOL.find(b"\r\n", off) + 2
    end = TEXT_POOL.find(b"\r\n", nl + text_len) + 2
    parts.append(TEXT_POOL[nl:end])
    remaining = size - sum(len(p) for p in parts) - 2 * len(boundary) - 120
    if remaining > 600:
        nlines = remaining // B64_LINE
        start = rng.randrange(0, B64_LINES - nlines) * B64_LINE
        parts += [b"--", boundary, b"\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n"
                  b"Content-Transfer-Encoding: base64\r\n\r\n", B64_POOL[start:start + nlines * B64_LINE]]
    parts += [b"--", boundary, b"--\r\n"]
    return b"".join(parts)

def msg_size():
    # log-uniform between 2 KB and 200 KB
    return int(2000 * (100 ** rng.random()))

# ---- one IMAP session as a list of (direction, bytes); 0 = client, 1 = server ----------------
def session(n):
    user = b"user%d" % n
    exists = rng.randint(40, 400)
    uid0 = 1000 + rng.randint(0, 5000)
    uids = list(range(uid0, uid0 + exists))
    caps = b"IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ UIDPLUS MOVE CONDSTORE"
    steps = [(1, b"* OK [CAPABILITY " + caps + b" AUTH=PLAIN] Dovecot ready.\r\n")]
    tag = [0]
    def t():
        tag[0] += 1
        return b"a%d" % tag[0]
    def cmd(line, *resp):
        tg = t()
        steps.append((0, tg + b" " + line + b"\r\n"))
        steps.append((1, b"".join(resp) + tg + b" OK " + line.split(b" ")[0] + b" completed.\r\n"))
    cmd(b"LOGIN " + user + b" \"pw-%d-secret\"" % n)
    steps[-1] = (1, steps[-1][1].replace(b"OK LOGIN completed.", b"OK [CAPABILITY " + caps + b"] Logged in"))
    cmd(b"SELECT INBOX",
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n",
        b"* %d EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1714550400] UIDs valid\r\n"
        b"* OK [UIDNEXT %d] Predicted next UID\r\n" % (exists, uids[-1] + 1))
    cmd(b"UID FETCH 1:* (FLAGS)",
        b"".join(b"* %d FETCH (UID %d FLAGS (%s))\r\n" % (i + 1, u, b"\\Seen" if i % 3 else b"")
                 for i, u in enumerate(uids)))
    for _ in range(rng.randint(8, 40)):
        r = rng.random()
        if r < 0.40:                      # one message
            i = rng.randrange(exists); body = message(uids[i], msg_size())
            cmd(b"UID FETCH %d (BODY.PEEK[])" % uids[i],
                b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (i + 1, uids[i], len(body)), body, b")\r\n")
        elif r < 0.55:                    # several messages in one response
            i = rng.randrange(exists - 5); k = rng.randint(2, 5)
            resp = []
            for j in range(i, i + k):
                body = message(uids[j], msg_size())
                resp += [b"* %d FETCH (UID %d RFC822.SIZE %d FLAGS (\\Seen) BODY[] {%d}\r\n"
                         % (j + 1, uids[j], len(body), len(body)), body, b")\r\n"]
            cmd(b"UID FETCH %d:%d (UID RFC822.SIZE FLAGS BODY.PEEK[])" % (uids[i], uids[i + k - 1]), *resp)
        elif r < 0.65:
            cmd(b"NOOP", *( [b"* %d EXISTS\r\n" % exists] if rng.random() < 0.3 else []))
        elif r < 0.77:
            i = rng.randrange(exists)
            cmd(b"UID STORE %d +FLAGS.SILENT (\\Seen)" % uids[i]) if rng.random() < 0.5 else \
                cmd(b"UID STORE %d +FLAGS (\\Flagged)" % uids[i],
                    b"* %d FETCH (UID %d FLAGS (\\Seen \\Flagged))\r\n" % (i + 1, uids[i]))
        elif r < 0.88:
            hits = sorted(rng.sample(uids, rng.randint(0, 30)))
            cmd(b"UID SEARCH UNSEEN", b"* SEARCH" + b"".join(b" %d" % u for u in hits) + b"\r\n")
        else:                             # IDLE ... DONE
            tg = t()
            steps.append((0, tg + b" IDLE\r\n"))
            steps.append((1, b"+ idling\r\n"))
            if rng.random() < 0.6:
                exists += 1; uids.append(uids[-1] + 1)
                steps.append((1, b"* %d EXISTS\r\n" % exists))
            steps.append((0, b"DONE\r\n"))
            steps.append((1, tg + b" OK Idle completed (0.001 + 2.000 secs).\r\n"))
    tg = t()
    steps.append((0, tg + b" LOGOUT\r\n"))
    steps.append((1, b"* BYE Logging out\r\n" + tg + b" OK Logout completed.\r\n"))
    return steps

# ---- TCP/IP framing ---------------------------------------------------------------------------
pack_ip = struct.Struct("!BBHHHBBH4s4s").pack
pack_tcp = struct.Struct("!HHIIBBHHH").pack
pack_rec = struct.Struct("<IIII").pack
PSEUDO_C2S = CLIENT_IP + SERVER_IP
PSEUDO_S2C = SERVER_IP + CLIENT_IP
FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10
clock = [1714557600.0]
ip_id = [0]

def csum_fold(data):
    s = int.from_bytes(data, "big") % 0xFFFF
    return 0xFFFF - s if s else 0

def frame(c2s, sport, seq, ack, flags, payload=b"", options=b""):
    src, dst = (CLIENT_IP, SERVER_IP) if c2s else (SERVER_IP, CLIENT_IP)
    sp, dp = (sport, SERVER_PORT) if c2s else (SERVER_PORT, sport)
    if not options:
        tsval = int(clock[0] * 1000) & 0xFFFFFFFF
        options = b"\x01\x01\x08\x0a" + struct.pack("!II", tsval, (tsval - 1) & 0xFFFFFFFF)
    thl = 20 + len(options)
    tcp = pack_tcp(sp, dp, seq, ack, (thl // 4) << 4, flags, 65535, 0, 0) + options
    tlen = thl + len(payload)
    pseudo = src + dst + struct.pack("!HH", 6, tlen)
    data = pseudo + tcp + payload
    if len(data) & 1:
        data += b"\x00"
    c = csum_fold(data)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip_id[0] = (ip_id[0] + 1) & 0xFFFF
    iph = pack_ip(0x45, 0, 20 + tlen, ip_id[0], 0x4000, 64, 6, 0, src, dst)
    iph = iph[:10] + struct.pack("!H", csum_fold(iph)) + iph[12:]
    pkt = ETH_C2S + iph + tcp + payload
    clock[0] += 0.000008 + len(payload) * 1e-9
    sec = int(clock[0]); usec = int((clock[0] - sec) * 1e6)
    return pack_rec(sec, usec, len(pkt), len(pkt)) + pkt

def connection(n, sport):
    """Generator of bursts (lists of pcap records) for one TCP connection."""
    steps = session(n)
    cseq = rng.getrandbits(32); sseq = rng.getrandbits(32)
    M = 0xFFFFFFFF
    syn_opts = b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + struct.pack("!II", 1, 0) + b"\x01\x03\x03\x07"
    yield [frame(True, sport, cseq, 0, SYN, options=syn_opts),
           frame(False, sport, sseq, (cseq + 1) & M, SYN | ACK, options=syn_opts),
           frame(True, sport, (cseq + 1) & M, (sseq + 1) & M, ACK)]
    cseq = (cseq + 1) & M; sseq = (sseq + 1) & M
    for direction, data in steps:
        c2s = direction == 0
        pos, burst, unacked = 0, [], 0
        while pos < len(data):
            seg = data[pos:pos + MSS]
            if c2s:
                burst.append(frame(True, sport, cseq, sseq, PSH | ACK, seg)); cseq = (cseq + len(seg)) & M
            else:
                burst.append(frame(False, sport, sseq, cseq, PSH | ACK, seg)); sseq = (sseq + len(seg)) & M
            pos += len(seg); unacked += 1
            last = pos >= len(data)
            if unacked == 2 or last:      # delayed ACK from the receiver
                if c2s:
                    burst.append(frame(False, sport, sseq, cseq, ACK))
                else:
                    burst.append(frame(True, sport, cseq, sseq, ACK))
                unacked = 0
            if len(burst) >= BURST or last:
                yield burst; burst = []
    # server closes after the LOGOUT reply
    yield [frame(False, sport, sseq, cseq, FIN | ACK),
           frame(True, sport, cseq, (sseq + 1) & M, FIN | ACK),
           frame(False, sport, (sseq + 1) & M, (cseq + 1) & M, ACK)]

# ---- scheduler / writer -----------------------------------------------------------------------
t0 = time.time()
written = 24
sessions = 0
with open(out_path, "wb", buffering=1 << 20) as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))   # LINKTYPE_ETHERNET
    active = []
    while True:
        while written < target and len(active) < CONCURRENT:
            sessions += 1
            active.append(connection(sessions, 40000 + sessions % 25000))
        if not active:
            break
        i = rng.randrange(len(active))
        try:
            burst = next(active[i])
        except StopIteration:
            active.pop(i)
            continue
        chunk = b"".join(burst)
        f.write(chunk)
        written += len(chunk)
print("generated %s: %.1f MB, %d sessions, in %.1f s" % (out_path, written / 1e6, sessions, time.time() - t0),
      file=sys.stderr)
PYEOF

generate() {   # generate OUT SIZE_MB [SEED]
  python3 -c "$GENERATOR" "$1" "$2" "${3:-${SEED:-1}}"
}

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
if [[ ! "${1:-300}" =~ ^[0-9]+([.][0-9]+)?$ && "${1:-}" != "--generate" ]]; then
  echo "usage: $0 [SIZE_MB] | --generate OUT.pcap SIZE_MB [SEED] | --help" >&2; exit 2
fi

if [[ "${1:-}" == "--generate" ]]; then
  shift
  generate "$@"
  exit 0
fi

SIZE_MB="${1:-300}"
BIG_MB="${BIG_MB:-1024}"
TSHARK_LIMIT_S="${TSHARK_LIMIT_S:-600}"
TSHARK_PREFIX_MB="${TSHARK_PREFIX_MB:-50}"
RUNS="${RUNS:-2}"

if [[ -n "${BENCH_TMP:-}" ]]; then
  TMP="$BENCH_TMP"; mkdir -p "$TMP"
else
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/imapscope-bench.XXXXXX")"
fi
cleanup() { [[ "${KEEP:-0}" == 1 ]] || rm -rf "$TMP"; }
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "bench_capture.sh: needs $1 ($2)" >&2; exit 1; }; }
need python3 "apt-get install python3"
need tshark "DEBIAN_FRONTEND=noninteractive apt-get install -y tshark"
[[ -x /usr/bin/time ]] || { echo "bench_capture.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

# ---- 1. imapscope, release build ----------------------------------------------------------
if [[ -z "${IMAPSCOPE:-}" ]]; then
  IMAPSCOPE="$ROOT/.build/release/imapscope"
  if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    echo "== swift build -c release --product imapscope (first build: 10+ minutes)" >&2
    for attempt in 1 2 3 4 5; do
      if (cd "$ROOT" && swift build -c release --product imapscope >"$TMP/build.log" 2>&1); then
        break
      fi
      if [[ $attempt == 5 ]]; then tail -30 "$TMP/build.log" >&2; exit 1; fi
      echo "   build failed (someone editing?), retrying in 60 s" >&2; tail -3 "$TMP/build.log" >&2
      sleep 60
    done
  fi
fi
[[ -x "$IMAPSCOPE" ]] || { echo "bench_capture.sh: no binary at $IMAPSCOPE" >&2; exit 1; }

# ---- helpers --------------------------------------------------------------------------------
# measure NAME TIMEOUT_S CMD... ; sets WALL (seconds), RSS_KB, TIMED_OUT (0/1)
measure() {
  local name="$1" limit="$2"; shift 2
  local tf="$TMP/time.$name.txt"
  TIMED_OUT=0
  set +e
  if [[ "$limit" -gt 0 ]]; then
    /usr/bin/time -v -o "$tf" timeout "$limit" "$@"
  else
    /usr/bin/time -v -o "$tf" "$@"
  fi
  local rc=$?
  set -e
  if [[ $rc == 124 ]]; then TIMED_OUT=1; fi
  if [[ $rc != 0 && $rc != 124 ]]; then
    echo "bench_capture.sh: '$*' exited with $rc" >&2; cat "$tf" >&2; exit 1
  fi
  WALL=$(python3 - "$tf" <<'EOF'
import sys
for line in open(sys.argv[1]):
    if "Elapsed (wall clock)" in line:
        v = line.rsplit(" ", 1)[1].strip().split(":")
        s = 0.0
        for part in v: s = s * 60 + float(part)
        print("%.3f" % s)
EOF
)
  RSS_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tf")
}

# best NAME TIMEOUT CMD... : RUNS runs; sets BEST_WALL, BEST_RSS (max RSS over runs), TIMED_OUT
best() {
  local name="$1" limit="$2"; shift 2
  BEST_WALL=""; BEST_RSS=0
  for ((r = 1; r <= RUNS; r++)); do
    measure "$name.$r" "$limit" "$@"
    if [[ $TIMED_OUT == 1 ]]; then return; fi
    echo "   run $r: ${WALL} s, max RSS $((RSS_KB / 1024)) MB" >&2
    if [[ -z "$BEST_WALL" ]] || python3 -c "import sys; sys.exit(0 if $WALL < $BEST_WALL else 1)"; then
      BEST_WALL=$WALL
    fi
    if (( RSS_KB > BEST_RSS )); then BEST_RSS=$RSS_KB; fi
  done
}

fsize() { stat -c %s "$1"; }
mbps() { python3 -c "print('%.1f' % ($1 / 1e6 / $2))"; }

# ---- 2. the capture ---------------------------------------------------------------------------
echo "== df -h $TMP" >&2; df -h "$TMP" >&2
CAP="$TMP/bench-${SIZE_MB}MB.pcap"
generate "$CAP" "$SIZE_MB"
CAP_BYTES=$(fsize "$CAP")

# ---- 3. throughput ----------------------------------------------------------------------------
echo "== imapscope read $CAP --format jsonl -o /dev/null  (x$RUNS)" >&2
best imapscope 0 "$IMAPSCOPE" read "$CAP" --format jsonl -o /dev/null
IS_WALL=$BEST_WALL; IS_RSS=$BEST_RSS
IS_MBPS=$(mbps "$CAP_BYTES" "$IS_WALL")

echo "== tshark -r $CAP -Y imap -T fields -e imap.request -e imap.response  (x$RUNS, limit ${TSHARK_LIMIT_S} s)" >&2
TS_CAP="$CAP"; TS_NOTE="same file"
best tshark "$TSHARK_LIMIT_S" sh -c 'exec tshark -r "$1" -Y imap -T fields -e imap.request -e imap.response > /dev/null 2>"$2"' \
  sh "$CAP" "$TMP/tshark.err"
if [[ $TIMED_OUT == 1 ]]; then
  echo "   tshark exceeded ${TSHARK_LIMIT_S} s on ${SIZE_MB} MB; measuring it on a ${TSHARK_PREFIX_MB} MB capture instead" >&2
  TS_CAP="$TMP/bench-${TSHARK_PREFIX_MB}MB.pcap"
  generate "$TS_CAP" "$TSHARK_PREFIX_MB"
  TS_NOTE="a ${TSHARK_PREFIX_MB} MB capture generated the same way (tshark took more than ${TSHARK_LIMIT_S} s on ${SIZE_MB} MB)"
  best tshark 0 sh -c 'exec tshark -r "$1" -Y imap -T fields -e imap.request -e imap.response > /dev/null 2>"$2"' \
    sh "$TS_CAP" "$TMP/tshark.err"
fi
TS_WALL=$BEST_WALL; TS_RSS=$BEST_RSS
TS_BYTES=$(fsize "$TS_CAP")
TS_MBPS=$(mbps "$TS_BYTES" "$TS_WALL")
RATIO=$(python3 -c "print('%.1f' % ($IS_MBPS / $TS_MBPS))")

# ---- 4. peak memory on a big capture --------------------------------------------------------
BIG_NOTE=""
if [[ "$BIG_MB" != 0 ]]; then
  rm -f "$CAP" "$TS_CAP"     # make room
  AVAIL_MB=$(df -Pm "$TMP" | awk 'NR==2 {print $4}')
  WANT_MB=$BIG_MB
  if (( AVAIL_MB < BIG_MB + 512 )); then
    WANT_MB=$(( AVAIL_MB - 512 ))
    BIG_NOTE=" (disk short: ${AVAIL_MB} MB free in $TMP, used ${WANT_MB} MB instead of ${BIG_MB} MB)"
    echo "   $BIG_NOTE" >&2
  fi
  if (( WANT_MB > 0 )); then
    BIG="$TMP/bench-${WANT_MB}MB.pcap"
    generate "$BIG" "$WANT_MB"
    BIG_BYTES=$(fsize "$BIG")
    echo "== imapscope read $BIG --format jsonl -o /dev/null" >&2
    measure imapscope-big 0 "$IMAPSCOPE" read "$BIG" --format jsonl -o /dev/null
    BIG_WALL=$WALL; BIG_RSS=$RSS_KB
    rm -f "$BIG"
  fi
fi

# ---- report ----------------------------------------------------------------------------------
echo
echo "imapscope capture benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(tshark --version 2>/dev/null | head -1 | cut -d' ' -f1-3))"
echo "MB = 1,000,000 bytes; best of $RUNS runs; synthetic IMAP over TCP, classic pcap"
printf '%-10s %-42s %9s %9s %10s\n' tool input "wall s" "MB/s" "max RSS"
printf '%-10s %-42s %9s %9s %7s MB\n' imapscope "$(printf '%.1f MB' "$(python3 -c "print($CAP_BYTES/1e6)")")" "$IS_WALL" "$IS_MBPS" "$((IS_RSS / 1024))"
printf '%-10s %-42s %9s %9s %7s MB\n' tshark "$(printf '%.1f MB' "$(python3 -c "print($TS_BYTES/1e6)")")" "$TS_WALL" "$TS_MBPS" "$((TS_RSS / 1024))"
echo "ratio imapscope/tshark (MB/s): ${RATIO}x"
if [[ "$TS_NOTE" != "same file" ]]; then
  echo "NOTE: tshark was measured on $TS_NOTE; the ratio compares per-MB rates."
fi
echo "imapscope: imapscope read FILE --format jsonl -o /dev/null"
echo "tshark:    tshark -r FILE -Y imap -T fields -e imap.request -e imap.response > /dev/null"
if [[ "$BIG_MB" != 0 && -n "${BIG_RSS:-}" ]]; then
  verdict=$([[ $BIG_RSS -lt $((64 * 1024)) ]] && echo "under the 64 MB goal" || echo "OVER the 64 MB goal")
  echo "peak memory: imapscope on a $(python3 -c "print('%.1f' % ($BIG_BYTES/1e6))") MB capture: max RSS $((BIG_RSS / 1024)) MB ($BIG_RSS kB), $verdict; $BIG_WALL s, $(mbps "$BIG_BYTES" "$BIG_WALL") MB/s${BIG_NOTE}"
fi
