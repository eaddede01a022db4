#!/usr/bin/env python3
"""Fails when Sources/ has a force unwrap (`x!`), `try!` or `as!` outside the allow-list.

Input reaches almost every path in imapscope, and a crash there loses the user's session (issue 9):
a new `!` must either go or be argued for in scripts/unwrap-allowlist.txt, one line each:
`path | exact code of the line (stripped) | why it cannot fail`.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
ALLOWLIST = ROOT / "scripts" / "unwrap-allowlist.txt"

# A postfix `!` after an identifier, `)`, `]` or `?`, not the start of `!=`; `try!`; `as!`.
FORCE = re.compile(r"(?:\btry!|\bas!|[A-Za-z0-9_)\]?]!(?!=))")


def strip_code(text: str) -> list[str]:
    """The source with comments and string literals blanked, line for line."""
    out, i, n = [], 0, len(text)
    buf = []
    depth = 0  # block comment nesting (Swift nests them)
    while i < n:
        c = text[i]
        if depth:
            if text.startswith("*/", i):
                depth -= 1; i += 2; continue
            if text.startswith("/*", i):
                depth += 1; i += 2; continue
            buf.append("\n" if c == "\n" else " "); i += 1; continue
        if text.startswith("/*", i):
            depth = 1; i += 2; continue
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        m = re.match(r'(#*)("""|")', text[i:])
        if m:
            hashes, quote = m.group(1), m.group(2)
            close = quote + hashes
            j = i + len(m.group(0))
            while j < n:
                if text[j] == "\\" and not hashes:
                    j += 2; continue
                if text.startswith(close, j):
                    j += len(close); break
                j += 1
            buf.append('""' + "\n" * text[i:j].count("\n")); i = j; continue
        buf.append(c); i += 1
    return "".join(buf).split("\n")


def main() -> int:
    allowed = set()
    if ALLOWLIST.exists():
        for raw in ALLOWLIST.read_text().splitlines():
            if raw.strip() and not raw.startswith("#"):
                parts = [p.strip() for p in raw.split(" | ")]
                if len(parts) < 3 or not parts[2]:
                    print(f"{ALLOWLIST}: every entry needs a reason: {raw}", file=sys.stderr)
                    return 2
                allowed.add((parts[0], parts[1]))
    found, used = [], set()
    for path in sorted((ROOT / "Sources").rglob("*.swift")):
        rel = str(path.relative_to(ROOT))
        original = path.read_text().split("\n")
        for number, code in enumerate(strip_code(path.read_text()), 1):
            if FORCE.search(code):
                line = original[number - 1].strip()
                if (rel, line) in allowed:
                    used.add((rel, line))
                else:
                    found.append(f"{rel}:{number}: {line}")
    for rel, line in sorted(allowed - used):
        print(f"{ALLOWLIST.name}: stale entry (no such line any more): {rel} | {line}", file=sys.stderr)
    if found:
        print("Force unwraps, try! or as! in Sources/ (remove them, or argue for them in "
              "scripts/unwrap-allowlist.txt):", file=sys.stderr)
        print("\n".join(found), file=sys.stderr)
        return 1
    print(f"check_unwraps: no force unwrap outside the allow-list ({len(used)} allowed)")
    return 1 if allowed - used else 0


if __name__ == "__main__":
    sys.exit(main())
