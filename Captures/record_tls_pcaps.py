#!/usr/bin/env python3
"""Record real TLS IMAP sessions with the key logs their clients wrote.

    sudo python3 Captures/record_tls_pcaps.py                    # every scenario into Captures/
    sudo python3 Captures/record_tls_pcaps.py --list
    sudo python3 Captures/record_tls_pcaps.py tls13-imaplib --out /tmp/caps

Each scenario starts a fresh Dovecot (scripts/dovecot_fixture.py) with seeded messages, runs

    tcpdump -i lo -U --immediate-mode -s 0 -w <out>/<name>.pcap 'tcp port <port>'

(the Tcpdump helper of Captures/record_pcaps.py), and has a real client talk TLS to it, writing
the NSS key log <out>/<name>.keylog itself: Python's ssl (SSLContext.keylog_filename) over
implicit TLS or after STARTTLS, curl with SSLKEYLOGFILE, openssl s_client -keylogfile. Test
credentials only (alice / password on a throwaway Dovecot).

For every scenario it prints one JSON line: the files, Dovecot's port, whether it was implicit
TLS or STARTTLS, and the commands the client sent ("TAG NAME", in order) as the client itself
reports them: imaplib's own command calls, curl -v's "> " lines, s_client's fixed preamble and
the lines given to it. The integration tests (KeyLogCaptureTests) read that line and check
`imapscope read --keylog` and tshark against it.
"""

import argparse
import imaplib
import json
import os
import random
import re
import signal
import ssl
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts"))
sys.path.insert(0, HERE)

from dovecot_fixture import PASSWORD, USER, Dovecot  # noqa: E402
from record_pcaps import Tcpdump  # noqa: E402

TIMEOUT = 20


def context(keylog, maximum=None, ciphers=None, no_etm=False):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.keylog_filename = keylog
    if maximum:
        ctx.maximum_version = maximum
    if ciphers:
        ctx.set_ciphers(ciphers)
    if no_etm:
        # SSL_OP_NO_ENCRYPT_THEN_MAC: MAC-then-encrypt CBC records (RFC 5246) instead of RFC 7366's.
        ctx.options |= 0x00080000
    return ctx


class Recorded:
    """imaplib's command calls, with the tag each one got."""

    def _command(self, name, *args):
        tag = super()._command(name, *args)
        full = name + (" " + args[0] if name == "UID" and args else "")
        self.__dict__.setdefault("sent", []).append("%s %s" % (tag.decode(), full))
        return tag


class RecordedSSL(Recorded, imaplib.IMAP4_SSL):
    pass


class RecordedPlain(Recorded, imaplib.IMAP4):
    pass


def check(ok, what):
    if not ok:
        raise RuntimeError(what)


def conversation(m):
    check(m.login(USER, PASSWORD)[0] == "OK", "LOGIN")
    check(m.select("INBOX")[0] == "OK", "SELECT")
    check(m.fetch("1:2", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[0] == "OK", "FETCH")
    check(m.noop()[0] == "OK", "NOOP")
    m.logout()
    return m.sent


def seeded_random(seed):
    state = random.getstate()
    random.seed(seed)
    return state


def imaplib_implicit(dc, keylog, seed, **tls):
    state = seeded_random(seed)
    try:
        m = RecordedSSL("127.0.0.1", dc.imaps_port, ssl_context=context(keylog, **tls), timeout=TIMEOUT)
    finally:
        random.setstate(state)
    return conversation(m)


def imaplib_starttls(dc, keylog, seed):
    state = seeded_random(seed)
    try:
        m = RecordedPlain("127.0.0.1", dc.imap_port, timeout=TIMEOUT)
    finally:
        random.setstate(state)
    check(m.starttls(ssl_context=context(keylog))[0] == "OK", "STARTTLS")
    return conversation(m)


def curl_fetch(dc, keylog):
    env = dict(os.environ, SSLKEYLOGFILE=keylog)
    url = "imaps://127.0.0.1:%d/INBOX;UID=1" % dc.imaps_port
    r = subprocess.run(["curl", "-v", "-sS", "-k", "--max-time", str(TIMEOUT), "-u", "%s:%s" % (USER, PASSWORD), url],
                       env=env, capture_output=True, text=True)
    check(r.returncode == 0, "curl failed: %s" % r.stderr)
    sent = []
    for line in r.stderr.splitlines():
        m = re.match(r"^> (\S+) (UID \S+|\S+)", line)
        if m:
            sent.append("%s %s" % (m.group(1), m.group(2).upper()))
    # curl sends LOGOUT as it closes the connection, after its verbose output has ended.
    return sent + ["A%03d LOGOUT" % (len(sent) + 1)]


def openssl_starttls(dc, keylog):
    lines = ["a1 LOGIN %s %s" % (USER, PASSWORD), "a2 SELECT INBOX", "a3 NOOP", "a4 LOGOUT"]
    r = subprocess.run(["openssl", "s_client", "-quiet", "-crlf", "-starttls", "imap", "-keylogfile", keylog,
                        "-connect", "127.0.0.1:%d" % dc.imap_port],
                       input="".join(l + "\n" for l in lines), capture_output=True, text=True, timeout=TIMEOUT)
    check("a4 OK" in r.stdout, "s_client: %s %s" % (r.stdout, r.stderr))
    # s_client's STARTTLS preamble is ". CAPABILITY" then ". STARTTLS" (apps/s_client.c).
    return [". CAPABILITY", ". STARTTLS"] + [" ".join(l.split()[:2]) for l in lines]


def compress_after_tls(dc, keylog):
    """A raw client over implicit TLS that turns COMPRESS=DEFLATE on (RFC 4978) after LOGIN."""
    import socket
    import zlib
    raw = socket.create_connection(("127.0.0.1", dc.imaps_port), timeout=TIMEOUT)
    conn = context(keylog).wrap_socket(raw)
    state = {"inflate": None, "deflate": None, "buffer": b""}

    def send(line):
        data = line.encode() + b"\r\n"
        if state["deflate"]:
            data = state["deflate"].compress(data) + state["deflate"].flush(zlib.Z_SYNC_FLUSH)
        conn.sendall(data)

    def until(tag):
        while True:
            while b"\r\n" in state["buffer"]:
                line, state["buffer"] = state["buffer"].split(b"\r\n", 1)
                if line.startswith(tag.encode() + b" "):
                    check(line.split()[1] == b"OK", "%s: %r" % (tag, line))
                    return
            data = conn.recv(65536)
            check(data, "connection closed waiting for %s" % tag)
            state["buffer"] += state["inflate"].decompress(data) if state["inflate"] else data

    lines = ["c1 LOGIN %s %s" % (USER, PASSWORD), "c2 COMPRESS DEFLATE", "c3 SELECT INBOX", "c4 NOOP", "c5 LOGOUT"]
    for line in lines:
        tag = line.split()[0]
        send(line)
        until(tag)
        if tag == "c2":
            state["deflate"] = zlib.compressobj(wbits=-15)
            state["inflate"] = zlib.decompressobj(-15)
            # Whatever followed the OK in the same read is compressed already.
            state["buffer"] = state["inflate"].decompress(state["buffer"]) if state["buffer"] else b""
    conn.close()
    return [" ".join(l.split()[:2]) for l in lines]


# name: (description, implicit TLS?, RSA certificate?, client)
SCENARIOS = {
    "tls13-imaplib": ("imaplib over implicit TLS 1.3 (AES-GCM)", True, False,
                      lambda dc, k: imaplib_implicit(dc, k, 13)),
    "tls13-chacha-imaplib": ("imaplib over implicit TLS 1.3, ChaCha20-Poly1305 only", True, False,
                             lambda dc, k: imaplib_implicit_13_chacha(dc, k)),
    "tls12-rsa-gcm-imaplib": ("imaplib over TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256", True, True,
                              lambda dc, k: imaplib_implicit(dc, k, 12, maximum=ssl.TLSVersion.TLSv1_2,
                                                             ciphers="ECDHE-RSA-AES128-GCM-SHA256")),
    "tls12-rsa-aes256-gcm-imaplib": ("imaplib over TLS 1.2, ECDHE-RSA-AES256-GCM-SHA384", True, True,
                                     lambda dc, k: imaplib_implicit(dc, k, 14, maximum=ssl.TLSVersion.TLSv1_2,
                                                                    ciphers="ECDHE-RSA-AES256-GCM-SHA384")),
    "tls12-chacha-imaplib": ("imaplib over TLS 1.2, ECDHE-RSA-CHACHA20-POLY1305", True, True,
                             lambda dc, k: imaplib_implicit(dc, k, 15, maximum=ssl.TLSVersion.TLSv1_2,
                                                            ciphers="ECDHE-RSA-CHACHA20-POLY1305")),
    "tls12-cbc-sha-imaplib": ("imaplib over TLS 1.2, ECDHE-RSA-AES128-SHA (CBC, encrypt-then-MAC)", True, True,
                              lambda dc, k: imaplib_implicit(dc, k, 16, maximum=ssl.TLSVersion.TLSv1_2,
                                                             ciphers="ECDHE-RSA-AES128-SHA")),
    "tls12-cbc-sha-mte-imaplib": ("imaplib over TLS 1.2, ECDHE-RSA-AES256-SHA, MAC-then-encrypt", True, True,
                                  lambda dc, k: imaplib_implicit(dc, k, 17, maximum=ssl.TLSVersion.TLSv1_2,
                                                                 ciphers="ECDHE-RSA-AES256-SHA", no_etm=True)),
    "tls12-cbc-sha256-imaplib": ("imaplib over TLS 1.2, ECDHE-RSA-AES128-SHA256 (CBC)", True, True,
                                 lambda dc, k: imaplib_implicit(dc, k, 18, maximum=ssl.TLSVersion.TLSv1_2,
                                                                ciphers="ECDHE-RSA-AES128-SHA256")),
    "tls12-cbc-sha384-imaplib": ("imaplib over TLS 1.2, ECDHE-RSA-AES256-SHA384 (CBC)", True, True,
                                 lambda dc, k: imaplib_implicit(dc, k, 19, maximum=ssl.TLSVersion.TLSv1_2,
                                                                ciphers="ECDHE-RSA-AES256-SHA384")),
    "starttls-imaplib": ("imaplib STARTTLS, then TLS 1.3", False, False, lambda dc, k: imaplib_starttls(dc, k, 21)),
    "tls-curl": ("curl imaps:// with SSLKEYLOGFILE", True, False, lambda dc, k: curl_fetch(dc, k)),
    "tls13-compress-raw": ("a raw client over implicit TLS 1.3 with COMPRESS=DEFLATE after LOGIN", True, False,
                           compress_after_tls),
    "starttls-openssl": ("openssl s_client -starttls imap -keylogfile", False, False,
                         lambda dc, k: openssl_starttls(dc, k)),
}


def imaplib_implicit_13_chacha(dc, keylog):
    # Python cannot pick TLS 1.3 suites; Dovecot can (ssl_cipher_suites), so the server does.
    return imaplib_implicit(dc, keylog, 22)


def record(name, out, attempts=3):
    """One scenario; recorded again (up to `attempts` times) if the kernel dropped packets under load."""
    for attempt in range(attempts):
        try:
            return record_once(name, out)
        except Dropped:
            if attempt == attempts - 1:
                raise


class Dropped(RuntimeError):
    pass


def record_once(name, out):
    description, implicit, rsa, client = SCENARIOS[name]
    pcap = os.path.join(out, name + ".pcap")
    keylog = os.path.join(out, name + ".keylog")
    if os.path.exists(keylog):
        os.unlink(keylog)
    with Dovecot(rsa=rsa, tls13_suites="TLS_CHACHA20_POLY1305_SHA256" if "chacha" in name else None) as dc:
        dc.seed(USER, 3)
        port = dc.imaps_port if implicit else dc.imap_port
        dump = Tcpdump(pcap, port).start()
        try:
            sent = client(dc, keylog)
        finally:
            captured, dropped = dump.stop()
    if dropped != 0:
        raise Dropped("%s: tcpdump dropped %d packets" % (name, dropped))
    check(os.path.exists(keylog), "%s: the client wrote no key log" % name)
    return {"name": name, "pcap": pcap, "keylog": keylog, "port": port,
            "tls": "implicit" if implicit else "starttls", "packets": captured, "commands": sent}


def main(argv=None):
    # A test runner may start this with signals blocked; tcpdump and Dovecot are stopped with them.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    ap = argparse.ArgumentParser(description="Record TLS IMAP captures with their key logs")
    ap.add_argument("names", nargs="*", help="scenarios (default: all)")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args(argv)
    if args.list:
        for n, s in SCENARIOS.items():
            print("%-30s %s" % (n, s[0]))
        return 0
    unknown = [n for n in args.names if n not in SCENARIOS]
    if unknown:
        print("unknown scenario(s): %s" % ", ".join(unknown), file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    for name in args.names or list(SCENARIOS):
        print(json.dumps(record(name, args.out)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
