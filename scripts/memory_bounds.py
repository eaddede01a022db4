#!/usr/bin/env python3
"""Peak memory of `imapscope read` on inputs that used to grow it without bound (issue 9, point 5).

Writes, in a temporary directory:
  - syn-flood.pcap: 200,000 SYNs to port 143 from distinct addresses, none ever closed
    (each becomes a session; beyond the 10,000-flow cap the least recently active is evicted);
  - big.transcript: a ~200 MB S:/C: fixture of FETCH responses with literal bodies (read in blocks);
then runs the binary on each under /usr/bin/time -v and prints the peak RSS. Exits 1 when one
is at or over the limit (100 MB by default).

    scripts/memory_bounds.py [--binary .build/debug/imapscope] [--limit-mb 100]
        [--syns 200000] [--transcript-mb 200] [--keep DIR]
"""
import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile
import time


def write_syn_flood(path, count):
    """A classic pcap (Ethernet) of `count` SYNs, 100 µs apart, from 10.x.y.z:40000 to 10.0.0.2:143."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        t0 = 1_700_000_000 * 1_000_000
        for i in range(count):
            src = bytes([10, 128 + ((i >> 16) & 127), (i >> 8) & 255, i & 255])
            tcp = struct.pack(">HHIIBBHHH", 40000, 143, 1, 0, 0x50, 0x02, 65535, 0, 0)
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, src, bytes([10, 0, 0, 2]))
            frame = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0]) + ip + tcp
            t = t0 + i * 100
            f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(frame), len(frame)))
            f.write(frame)


def write_big_transcript(path, megabytes):
    """An exact fixture: a login, then FETCHes of 8 KiB bodies until the file holds `megabytes` MB."""
    body_line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n"
    body = body_line * 100  # 8,200 bytes
    body_lines = "".join("S: " + line + "\r\n" for line in body.split("\r\n")[:-1])
    target = megabytes * 1_000_000
    with open(path, "w", newline="") as f:
        f.write("S: * OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n")
        f.write("C: a1 LOGIN alice password\r\nS: a1 OK logged in\r\n")
        f.write("C: a2 SELECT INBOX\r\nS: * 99999 EXISTS\r\nS: a2 OK [READ-WRITE] done\r\n")
        written, n = 0, 0
        while written < target:
            n += 1
            chunk = (f"C: f{n} FETCH {n} BODY[]\r\nS: * {n} FETCH (BODY[] {{{len(body)}}}\r\n"
                     + body_lines + f"S: )\r\nS: f{n} OK done\r\n")
            f.write(chunk)
            written += len(chunk)
        f.write("C: z LOGOUT\r\nS: * BYE bye\r\nS: z OK bye\r\n")


def peak_rss_kb(binary, path):
    start = time.time()
    r = subprocess.run(["/usr/bin/time", "-v", binary, "read", path, "--format", "jsonl", "--output", "/dev/null"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.time() - start
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    if not m:
        sys.exit(f"no RSS figure from /usr/bin/time:\n{r.stderr}")
    messages = [l for l in r.stderr.splitlines() if l.startswith("imapscope") or l.startswith("Error")]
    return int(m.group(1)), seconds, r.returncode, messages


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(here, "..", ".build", "debug", "imapscope"))
    ap.add_argument("--limit-mb", type=float, default=100)
    ap.add_argument("--syns", type=int, default=200_000)
    ap.add_argument("--transcript-mb", type=int, default=200)
    ap.add_argument("--keep", help="write the inputs here and keep them")
    args = ap.parse_args()
    directory = args.keep or tempfile.mkdtemp(prefix="imapscope-memory-")
    os.makedirs(directory, exist_ok=True)
    pcap = os.path.join(directory, "syn-flood.pcap")
    transcript = os.path.join(directory, "big.transcript")
    write_syn_flood(pcap, args.syns)
    write_big_transcript(transcript, args.transcript_mb)
    failed = False
    for name, path in [(f"{args.syns} SYNs, no FIN", pcap), (f"{os.path.getsize(transcript) / 1e6:.0f} MB transcript", transcript)]:
        kb, seconds, status, messages = peak_rss_kb(args.binary, path)
        over = kb / 1000 >= args.limit_mb
        failed |= over or status != 0
        print(f"{name}: peak RSS {kb / 1000:.1f} MB ({kb} kB), {seconds:.1f} s, exit {status}"
              f"{'  OVER THE LIMIT' if over else ''}")
        for m in messages:
            print(f"    {m}")
    if not args.keep:
        for p in (pcap, transcript):
            os.remove(p)
        os.rmdir(directory)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
