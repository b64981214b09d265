#!/usr/bin/env python3
"""Cross-checks tests/vectors/suite1.txt and suite2.txt with code nobody here wrote.

Everything sealstream-specific is rebuilt here from docs/FORMAT.md alone: the header encoding,
the bound section, HKDF-Expand-SHA-512 (with Python's hmac/hashlib) and the chunking. The AEADs
come from elsewhere:

  suite 1  pyca/cryptography's AESGCM rebuilds every body byte for byte, and its
           Cobblestone256Decryptor (C2SP chunked encryption, written by pyca) must open every body
           with the bound section as context and return the plaintext.
  suite 2  XChaCha20-Poly1305 from PyCryptodome (ChaCha20_Poly1305 with a 24-byte nonce) when it
           is installed; otherwise pyca's ChaCha20Poly1305 under an HChaCha20 subkey computed here
           (draft-irtf-cfrg-xchacha), which needs nothing beyond the test requirements.

Usage: check_vectors.py [--xchacha auto|pycryptodome|hchacha] VECTOR_FILE...
Prints one line per case and exits non-zero on the first mismatch.
"""

import argparse
import hashlib
import hmac
import struct
import sys

from cryptography.cobblestone import Cobblestone256Decryptor
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

MAGIC = bytes([0x89, 0x53, 0x4C, 0x53, 0x0D, 0x0A, 0x1A, 0x0A])
CHUNK = 16384
LABEL = b"c2sp.org/chunked-encryption@v1+"
SUITES = {1: (b"AEAD_AES_256_GCM", 12), 2: (b"AEAD_XCHACHA20_POLY1305", 24)}


def parse(path):
    """Returns (global fields, [case dicts]) of a vector file (syntax: see its header)."""
    glob, cases = {}, []
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("[") and line.endswith("]"):
                cases.append({"name": line[1:-1], "context_pair": [], "record": []})
                continue
            key, _, value = line.partition(" =")
            value = value.strip()
            target = cases[-1] if cases else glob
            if key in ("context_pair", "record"):
                target[key].append(value)
            else:
                target[key] = value
    return glob, cases


def hkdf_expand_sha512(prk, info, length):
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha512).digest()
        out += block
        counter += 1
    return out[:length]


def u16(n):
    return struct.pack(">H", n)


def bound_section(suite, pairs):
    pairs = sorted((k.encode(), v.encode()) for k, v in pairs)
    out = bytes([1, suite]) + u16(len(pairs))
    for k, v in pairs:
        out += bytes([len(k)]) + k + u16(len(v)) + v
    return out


def header(bound, records):
    block = u16(len(records))
    for provider, key_id, wrapped in records:
        block += bytes([len(provider)]) + provider + u16(len(key_id)) + key_id
        block += u16(len(wrapped)) + wrapped
    return MAGIC + struct.pack(">I", 12 + len(bound) + len(block)) + bound + block


def rotl(v, n):
    return ((v << n) & 0xFFFFFFFF) | (v >> (32 - n))


def hchacha20(key, nonce16):
    """HChaCha20 (draft-irtf-cfrg-xchacha, section 2.2)."""
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))

    def qr(a, b, c, d):
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = rotl(s[b] ^ s[c], 7)

    for _ in range(10):
        qr(0, 4, 8, 12), qr(1, 5, 9, 13), qr(2, 6, 10, 14), qr(3, 7, 11, 15)
        qr(0, 5, 10, 15), qr(1, 6, 11, 12), qr(2, 7, 8, 13), qr(3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def xchacha_seal_pycryptodome(key, nonce, plaintext):
    from Crypto.Cipher import ChaCha20_Poly1305

    ct, tag = ChaCha20_Poly1305.new(key=key, nonce=nonce).encrypt_and_digest(plaintext)
    return ct + tag


def xchacha_seal_hchacha(key, nonce, plaintext):
    subkey = hchacha20(key, nonce[:16])
    return ChaCha20Poly1305(subkey).encrypt(b"\0\0\0\0" + nonce[16:], plaintext, None)


def seal_body(suite, data_key, salt, context, plaintext, xchacha):
    aead_name, nonce_len = SUITES[suite]
    okm = hkdf_expand_sha512(data_key, LABEL + aead_name + b"\0" + salt + context, 64 + nonce_len)
    key, base_nonce, commitment = okm[:32], okm[32 : 32 + nonce_len], okm[32 + nonce_len :]
    body = salt + commitment
    chunks = [plaintext[i : i + CHUNK] for i in range(0, len(plaintext), CHUNK)]
    if len(plaintext) % CHUNK == 0:
        chunks.append(b"")  # the final chunk is always short, possibly empty
    for i, chunk in enumerate(chunks):
        counter = i.to_bytes(nonce_len, "big")
        nonce = bytes(a ^ b for a, b in zip(base_nonce, counter))
        if suite == 1:
            body += AESGCM(key).encrypt(nonce, chunk, None)
        else:
            body += xchacha(key, nonce, chunk)
    return body


def plaintext_of(case):
    gen = case.get("plaintext_gen")
    if gen is None:
        return bytes.fromhex(case["plaintext"])
    if gen != "mod251":
        raise SystemExit(f"unknown generator {gen}")
    return bytes(i % 251 for i in range(int(case["plaintext_len"])))


def check(path, xchacha_mode):
    glob, cases = parse(path)
    suite = int(glob["suite"])
    if xchacha_mode == "auto":
        try:
            import Crypto  # noqa: F401

            xchacha_mode = "pycryptodome"
        except ImportError:
            xchacha_mode = "hchacha"
    xchacha = {"pycryptodome": xchacha_seal_pycryptodome, "hchacha": xchacha_seal_hchacha}[
        xchacha_mode
    ]
    for case in cases:
        where = f"{path} [{case['name']}]"
        data_key = bytes.fromhex(case["data_key"])
        salt = bytes.fromhex(case["salt"])
        pairs = [p.split("=", 1) for p in case["context_pair"]]
        records = []
        for r in case["record"]:
            provider, key_id, wrapped = r.split(" ")
            key_id = "" if key_id == '""' else key_id
            records.append((provider.encode(), key_id.encode(), bytes.fromhex(wrapped)))
        bound = bound_section(suite, pairs)
        hdr = header(bound, records)
        assert bound.hex() == case["context"], f"{where}: bound section"
        assert hdr.hex() == case["header"], f"{where}: header"
        plaintext = plaintext_of(case)
        body = seal_body(suite, data_key, salt, bound, plaintext, xchacha)
        if "body" in case:
            assert body.hex() == case["body"], f"{where}: body"
        else:
            assert len(body) == int(case["body_len"]), f"{where}: body_len"
            assert body[:56].hex() == case["body_prefix"], f"{where}: salt/commitment"
            assert body[-16:].hex() == case["final_tag"], f"{where}: final tag"
            assert hashlib.sha256(body).hexdigest() == case["body_sha256"], f"{where}: body"
            obj = hashlib.sha256(hdr + body).hexdigest()
            assert obj == case["object_sha256"], f"{where}: object"
        how = "AESGCM" if suite == 1 else f"XChaCha20-Poly1305 ({xchacha_mode})"
        if suite == 1:
            d = Cobblestone256Decryptor(data_key, bound)
            opened = d.update(body) + d.finalize()
            assert opened == plaintext, f"{where}: Cobblestone256Decryptor"
            how += " + Cobblestone256Decryptor"
        print(f"ok {where}: {len(plaintext)} bytes, {how}")
    return len(cases)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xchacha", choices=["auto", "pycryptodome", "hchacha"], default="auto")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    n = sum(check(f, args.xchacha) for f in args.files)
    print(f"check_vectors: {n} cases match")


if __name__ == "__main__":
    sys.exit(main())
