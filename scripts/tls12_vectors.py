#!/usr/bin/env python3
"""Print TLS 1.2 record vectors for Tests/IMAPCaptureTests/TLS12DecryptionTests.swift.

An implementation independent of imapscope's: the PRF (RFC 5246 §5) on Python's hmac, the
key block (§6.3), and records sealed with the `cryptography` package (pip install cryptography):
AES-GCM with its explicit nonce (RFC 5288), ChaCha20-Poly1305 with RFC 7905's nonce, and AES-CBC
with HMAC, MAC-then-encrypt (RFC 5246 §6.2.3.2) or encrypt-then-MAC (RFC 7366). Fixed inputs,
so the output never changes:

    python3 scripts/tls12_vectors.py
"""

import hashlib
import hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

MASTER = bytes(range(48))
CLIENT_RANDOM = bytes([0xC0 | (i & 0x0F) for i in range(32)])
SERVER_RANDOM = bytes([0x50 | (i & 0x0F) for i in range(32)])
PLAINTEXT = b"a1 LOGIN alice password\r\n"


def prf(h, secret, label, seed, n):
    out, a = b"", label + seed
    while len(out) < n:
        a = hmac.new(secret, a, h).digest()
        out += hmac.new(secret, a + label + seed, h).digest()
    return out[:n]


# id: (name, bulk, key length, fixed IV length, PRF hash, MAC hash or None, encrypt-then-MAC)
SUITES = {
    0xC02F: ("ECDHE-RSA-AES128-GCM-SHA256", "gcm", 16, 4, hashlib.sha256, None, False),
    0xC030: ("ECDHE-RSA-AES256-GCM-SHA384", "gcm", 32, 4, hashlib.sha384, None, False),
    0xCCA8: ("ECDHE-RSA-CHACHA20-POLY1305", "chacha", 32, 12, hashlib.sha256, None, False),
    0xC013: ("ECDHE-RSA-AES128-SHA, MAC-then-encrypt", "cbc", 16, 16, hashlib.sha256, hashlib.sha1, False),
    0xC014: ("ECDHE-RSA-AES256-SHA, encrypt-then-MAC", "cbc", 32, 16, hashlib.sha256, hashlib.sha1, True),
    0xC027: ("ECDHE-RSA-AES128-SHA256, encrypt-then-MAC", "cbc", 16, 16, hashlib.sha256, hashlib.sha256, True),
    0xC028: ("ECDHE-RSA-AES256-SHA384, MAC-then-encrypt", "cbc", 32, 16, hashlib.sha384, hashlib.sha384, False),
}


def seal(suite, seq, plaintext, typ=23, version=b"\x03\x03"):
    name, bulk, klen, ivlen, h, mac, etm = SUITES[suite]
    maclen = mac().digest_size if mac else 0
    # CBC suites take no IV from the key block in TLS 1.1+: ivlen counts only for the block's size.
    block_iv = 0 if bulk == "cbc" else ivlen
    kb = prf(h, MASTER, b"key expansion", SERVER_RANDOM + CLIENT_RANDOM, 2 * (maclen + klen + block_iv))
    mac_key, kb = kb[:maclen], kb[2 * maclen:]
    key, kb = kb[:klen], kb[2 * klen:]
    iv = kb[:block_iv]
    seqb = seq.to_bytes(8, "big")
    if bulk == "gcm":
        explicit = bytes([0xE0 + i for i in range(8)])
        aad = seqb + bytes([typ]) + version + len(plaintext).to_bytes(2, "big")
        frag = explicit + AESGCM(key).encrypt(iv + explicit, plaintext, aad)
    elif bulk == "chacha":
        nonce = bytes(a ^ b for a, b in zip(iv, seq.to_bytes(12, "big")))
        aad = seqb + bytes([typ]) + version + len(plaintext).to_bytes(2, "big")
        frag = ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)
    else:
        record_iv = bytes([0xA0 + i for i in range(16)])
        enc = Cipher(algorithms.AES(key), modes.CBC(record_iv)).encryptor()
        if etm:
            padlen = 15 - len(plaintext) % 16
            ct = enc.update(plaintext + bytes([padlen]) * (padlen + 1)) + enc.finalize()
            body = record_iv + ct
            tag = hmac.new(mac_key, seqb + bytes([typ]) + version + len(body).to_bytes(2, "big") + body, mac).digest()
            frag = body + tag
        else:
            tag = hmac.new(mac_key, seqb + bytes([typ]) + version + len(plaintext).to_bytes(2, "big") + plaintext,
                           mac).digest()
            data = plaintext + tag
            padlen = 15 - len(data) % 16
            frag = record_iv + enc.update(data + bytes([padlen]) * (padlen + 1)) + enc.finalize()
    return bytes([typ]) + version + len(frag).to_bytes(2, "big") + frag


def main():
    print("PRF-SHA256 %s" % prf(hashlib.sha256, bytes.fromhex("9bbe436ba940f017b17652849a71db35"), b"test label",
                                 bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c"), 100).hex())
    for suite, s in SUITES.items():
        print("%04x seq=5 %s: %s" % (suite, s[0], seal(suite, 5, PLAINTEXT).hex()))


if __name__ == "__main__":
    main()
