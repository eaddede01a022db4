#!/usr/bin/env python3
"""Seed corpora for the Fuzz/ targets, in each target's input format, from the project's own
captures (Captures/) and the JSON Lines imapscope writes for them.

usage: fuzz_seeds.py OUT_DIR [IMAPSCOPE_BINARY]
"""
import os
import random
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAPTURES = os.path.join(ROOT, "Captures")
# FrameDecoder.supportedLinkTypes' keys, sorted: FuzzCapture picks link type byte % len.
LINK_TYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276]


def transcript_chunks(path):
    """(is_server, bytes) per S:/C: line; good enough for seeds (literal bodies stay lines)."""
    out = []
    with open(path, "rb") as f:
        for line in f.read().split(b"\n"):
            line = line.rstrip(b"\r")
            if line[:3] in (b"S: ", b"C: "):
                out.append((line[:1] == b"S", line[3:] + b"\r\n"))
    return out


def session_seed(chunks, rng):
    """FuzzSession's format: an options byte, then [dir bit 7 | length-1 in bits 0-5][bytes]."""
    seed = bytearray([0])
    for is_server, data in chunks:
        i = 0
        while i < len(data):
            n = min(len(data) - i, rng.randint(1, 64))
            seed.append((0x80 if is_server else 0) | (n - 1))
            seed += data[i:i + n]
            i += n
    return bytes(seed)


def capture_seed(path):
    """FuzzCapture's format: link type index, then [u16 length][time step, 50 ms units][frame]."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    link = struct.unpack(endian + "I", data[20:24])[0] & 0xFFFF
    if link not in LINK_TYPES:
        return None
    seed = bytearray([LINK_TYPES.index(link)])
    offset, last = 24, None
    while offset + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + incl]
        offset += 16 + incl
        t = sec + frac / (1e9 if nano else 1e6)
        step = 0 if last is None else min(255, int((t - last) / 0.05))
        last = t
        seed += struct.pack(">HB", len(frame), step) + frame
    return bytes(seed)


def main():
    out = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) > 2 else None
    rng = random.Random(9)
    names = sorted(os.listdir(CAPTURES))
    for target in ("FuzzSession", "FuzzCapture", "FuzzTranscript", "FuzzJSONLines"):
        os.makedirs(os.path.join(out, target), exist_ok=True)

    def put(target, name, data):
        with open(os.path.join(out, target, name), "wb") as f:
            f.write(data)

    for name in names:
        path = os.path.join(CAPTURES, name)
        if name.endswith(".transcript"):
            with open(path, "rb") as f:
                put("FuzzTranscript", name, f.read())
            chunks = transcript_chunks(path)
            for k in range(3):
                put("FuzzSession", f"{name}.{k}", session_seed(chunks, rng))
        elif name.endswith(".pcap"):
            seed = capture_seed(path)
            if seed is not None:
                put("FuzzCapture", name, seed)
        else:
            continue
        if binary:
            jsonl = subprocess.run([binary, "read", path, "--format", "jsonl"], capture_output=True).stdout
            if jsonl:
                put("FuzzJSONLines", name + ".jsonl", jsonl)
    for target in ("FuzzSession", "FuzzCapture", "FuzzTranscript", "FuzzJSONLines"):
        print(f"{target}: {len(os.listdir(os.path.join(out, target)))} seeds")


if __name__ == "__main__":
    main()
