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
The client scenarios and the command line both recorders share are in
scripts/imap_scenarios.py.
"""

import os
import sys
import zlib
from functools import partial

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts"))

from imap_scenarios import (V4, append_literals, authenticate, check, compress_deflate,  # noqa: E402
                            curl_fetch, idle_delivery, login_select_fetch, recorder_main,
                            require, seeded_dovecot)
from imap_tee import ImapTee, read_transcript_parts  # noqa: E402

HOST = V4


# -- scenarios ---------------------------------------------------------------
#
# A scenario group runs in one fresh Dovecot; each of its sessions goes through its own
# tee, which writes <out>/<transcript>.transcript. The client drivers (shared with
# record_pcaps.py) are in scripts/imap_scenarios.py.

SCENARIOS = [
    # (group name, seeded messages, [(transcript it writes, client driver)])
    ("login-select-fetch", 5,
     [("login-select-fetch", partial(login_select_fetch, tag_seed=1001, capability_and_list=True))]),
    ("append-literals", 2, [("append-literals", partial(append_literals, tag_seed=1002))]),
    ("idle-delivery", 3, [("idle-delivery", partial(idle_delivery, tag_seed=1003))]),
    ("authenticate-mechanisms", 0,
     [("auth-plain", partial(authenticate, tag_seed=1004, mechanism="PLAIN")),
      ("auth-login", partial(authenticate, tag_seed=1005, mechanism="LOGIN")),
      ("auth-cram-md5", partial(authenticate, tag_seed=1006, mechanism="CRAM-MD5"))]),
    ("curl-fetch", 3, [("curl-fetch", curl_fetch)]),
    ("compress-deflate", 3, [("compress-deflate", compress_deflate)]),
]

# Programs a session's client needs besides python3 (checked before Dovecot starts).
NEEDS = {"curl-fetch": ("curl",)}


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


def run_group(entry, out_dir, versions):
    group, seed, sessions = entry
    for name, _ in sessions:
        if name in NEEDS:
            require(*NEEDS[name])
    with seeded_dovecot(seed, versions) as dc:
        tees = []
        try:
            for name, driver in sessions:
                tee = ImapTee(dc.imap_port, os.path.join(out_dir, name + ".transcript"), name,
                              keep_raw=True).start()
                tees.append(tee)
                driver(dc, HOST, tee.port)
                tee.close()
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
            results.append("%-20s %4d lines  client %6d B  server %6d B"
                           % (tee.scenario, n, tee.client.bytes, tee.server.bytes))
        return results


def main(argv=None):
    return recorder_main(
        argv, "Record real-client <-> Dovecot transcripts",
        "scenario groups or transcript names (default: all)", SCENARIOS,
        names=lambda entry: {entry[0]} | {name for name, _ in entry[2]},
        list_line=lambda entry: "%-24s -> %s" % (entry[0], ", ".join(name + ".transcript" for name, _ in entry[2])),
        record=run_group, width=20)


if __name__ == "__main__":
    sys.exit(main())
