"""Clients that abuse an IMAP proxy's listeners: connect and reset at once, or drop before,
during or after the upstream connect, the greeting, STARTTLS and the TLS handshakes.

    python3 scripts/abusive_clients.py COUNT LISTENER... [--seed N] [--workers N]

LISTENER is `imaps:PORT` (implicit TLS) or `imap:PORT` (plaintext, STARTTLS offered).
COUNT clients are spread over the listeners round robin, each with the next behaviour of
that listener's list (so every behaviour is exercised). Prints one JSON line: how many
clients ran per behaviour, how many met an error (a reset by the proxy is not a failure
here: only a client that could not connect at all counts as `refused`), and the seconds taken.
Standard library only.
"""

import argparse
import collections
import json
import random
import socket
import ssl
import struct
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

TIMEOUT = 15.0


def reset(s):
    """Close with SO_LINGER {1, 0}: the kernel sends RST instead of FIN."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def client_hello():
    """The bytes of a real TLS ClientHello (for sending half of one)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="imapscope.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


HELLO = client_hello()


def insecure_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def read_line(s):
    data = b""
    while not data.endswith(b"\n"):
        d = s.recv(1)
        if not d:
            raise EOFError("closed after %r" % data)
        data += d
    return data


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


# Behaviours for any listener.
def reset_now(port, rng):
    reset(connect(port))


def close_now(port, rng):
    connect(port).close()


def reset_after_delay(port, rng):
    """Somewhere during the upstream connect, the greeting or the proxy's own handshake."""
    s = connect(port)
    time.sleep(rng.uniform(0, 0.03))
    reset(s)


def garbage_then_reset(port, rng):
    s = connect(port)
    s.sendall(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600))))
    reset(s)


# Implicit TLS listeners.
def half_hello_close(port, rng):
    s = connect(port)
    s.sendall(HELLO[: len(HELLO) // 2])
    s.close()


def half_hello_reset(port, rng):
    s = connect(port)
    s.sendall(HELLO[: len(HELLO) // 2])
    reset(s)


def handshake_then_reset(port, rng):
    raw = connect(port)
    t = insecure_context().wrap_socket(raw, server_hostname="imapscope.test")
    reset(t)


def greeting_over_tls_then_close(port, rng):
    raw = connect(port)
    t = insecure_context().wrap_socket(raw, server_hostname="imapscope.test")
    read_line(t)
    t.close()


# Plaintext listeners (STARTTLS offered).
def greeting_then_close(port, rng):
    s = connect(port)
    read_line(s)
    s.close()


def greeting_then_reset(port, rng):
    s = connect(port)
    read_line(s)
    reset(s)


def starttls_then_reset(port, rng):
    """STARTTLS sent, reset before its answer: the proxy may be upgrading the server leg."""
    s = connect(port)
    read_line(s)
    s.sendall(b"a1 STARTTLS\r\n")
    time.sleep(rng.uniform(0, 0.01))
    reset(s)


def starttls_answered(port):
    """A connection whose STARTTLS the proxy has just answered: the next bytes are TLS."""
    s = connect(port)
    read_line(s)
    s.sendall(b"a1 STARTTLS\r\n")
    while not read_line(s).startswith(b"a1 "):
        pass
    return s


def starttls_half_hello_reset(port, rng):
    s = starttls_answered(port)
    s.sendall(HELLO[: len(HELLO) // 2])
    reset(s)


def starttls_handshake_then_reset(port, rng):
    s = starttls_answered(port)
    t = insecure_context().wrap_socket(s, server_hostname="imapscope.test")
    reset(t)


# Each listener's clients take these in turn. The cheap early drops come more often than those
# that wait for a greeting or a handshake (each of which costs Dovecot a login process, and
# both sides TLS), so that 2,000 clients take well under a minute on a loaded machine.
BEHAVIOURS = {
    "imaps": [reset_now, half_hello_reset, close_now, reset_after_delay, handshake_then_reset,
              reset_now, half_hello_close, garbage_then_reset, close_now, reset_after_delay,
              reset_now, half_hello_reset, greeting_over_tls_then_close],
    "imap": [reset_now, greeting_then_reset, close_now, reset_after_delay, starttls_then_reset,
             reset_now, starttls_half_hello_reset, garbage_then_reset, close_now, greeting_then_close,
             reset_now, reset_after_delay, starttls_handshake_then_reset],
}


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("count", type=int)
    ap.add_argument("listeners", nargs="+")
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--workers", type=int, default=32)
    args = ap.parse_args(argv)
    listeners = []
    for spec in args.listeners:
        scheme, _, port = spec.partition(":")
        if scheme not in BEHAVIOURS or not port.isdigit():
            ap.error("listener %r: expected imaps:PORT or imap:PORT" % spec)
        listeners.append((scheme, int(port)))
    plan = []
    for i in range(args.count):
        scheme, port = listeners[i % len(listeners)]
        kinds = BEHAVIOURS[scheme]
        plan.append((i, scheme, port, kinds[(i // len(listeners)) % len(kinds)]))

    counts, errors, refused = collections.Counter(), collections.Counter(), []
    spent = collections.Counter()
    lock = threading.Lock()

    def one(item):
        i, scheme, port, behaviour = item
        name = "%s/%s" % (scheme, behaviour.__name__)
        began = time.monotonic()
        try:
            behaviour(port, random.Random(args.seed * 100003 + i))
            ok, err = True, None
        except ConnectionRefusedError as e:
            ok, err = False, e
        except (OSError, EOFError, ssl.SSLError) as e:
            ok, err = True, e   # the proxy hung up on us: allowed
        with lock:
            counts[name] += 1
            spent[name] += time.monotonic() - began
            if err is not None:
                errors[name] += 1
            if not ok:
                refused.append("%s: %s" % (name, err))

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        list(pool.map(one, plan))
    print(json.dumps({"clients": len(plan), "seconds": round(time.monotonic() - start, 2),
                      "behaviours": dict(sorted(counts.items())), "errors": dict(sorted(errors.items())),
                      "mean_ms": {k: round(1000 * spent[k] / counts[k], 1) for k in sorted(counts)},
                      "refused": refused[:5], "refused_count": len(refused)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
