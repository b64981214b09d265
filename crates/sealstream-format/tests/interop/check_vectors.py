#!/usr/bin/env python3
"""Cross-checks tests/vectors/suite1.txt and suite2.txt with code nobody here wrote.

Everything sealstream-specific is rebuilt here from docs/FORMAT.md (version 2) alone: the header
encoding (name, key block, zero padding to 4096 bytes), the bound section, HKDF-Expand-SHA-512
(with Python's hmac/hashlib), the chunking, and the key records' bindings. The AEADs and the
X25519/HKDF-SHA256 of the records come from elsewhere:

  suite 1  pyca/cryptography's AESGCM rebuilds every body byte for byte, and its
           Cobblestone256Decryptor (C2SP chunked encryption, written by pyca) must open every body
           with the bound section as context and return the plaintext.
  suite 2  XChaCha20-Poly1305 from PyCryptodome (ChaCha20_Poly1305 with a 24-byte nonce) when it
           is installed; otherwise pyca's ChaCha20Poly1305 under an HChaCha20 subkey computed here
           (draft-irtf-cfrg-xchacha), which needs nothing beyond the test requirements.

  records  pyca's AESGCM (`local`), X25519, HKDF (SHA-256, Extract and Expand) and
           ChaCha20Poly1305 (`x25519`) recompute the worked example's two key records.

Usage: check_vectors.py [--xchacha auto|pycryptodome|hchacha] [--format FORMAT_MD]
                        [--print-kats] VECTOR_FILE...
With --format, every known answer of FORMAT.md's worked example (header, records, body, the
multi-chunk body) is recomputed and must appear, as `name = hex` or in the table, in that file.
Prints one line per case and exits non-zero on the first mismatch.
"""

import argparse
import hashlib
import hmac
import struct
import sys

from cryptography.cobblestone import Cobblestone256Decryptor
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = bytes([0x89, 0x53, 0x4C, 0x53, 0x0D, 0x0A, 0x1A, 0x0A])
HEADER_LEN = 4096
VERSION = 2
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
    out = bytes([VERSION, suite]) + u16(len(pairs))
    for k, v in pairs:
        out += bytes([len(k)]) + k + u16(len(v)) + v
    return out


def header_fields(bound, name, records):
    """The header up to the end of the key block (FORMAT.md, Header, Key block)."""
    block = u16(len(name)) + name + u16(len(records))
    for provider, key_id, wrapped in records:
        block += bytes([len(provider)]) + provider + u16(len(key_id)) + key_id
        block += u16(len(wrapped)) + wrapped
    fields = MAGIC + struct.pack(">I", HEADER_LEN) + bound + block
    assert len(fields) <= HEADER_LEN
    return fields


def header(bound, name, records):
    """The whole 4096-byte header: the fields, then zero padding."""
    fields = header_fields(bound, name, records)
    return fields + bytes(HEADER_LEN - len(fields))


def binding_aad(label, key_id, bound, salt, name):
    """FORMAT.md, Key records, Binding."""
    return label + b"\0" + u16(len(key_id)) + key_id + u16(len(bound)) + bound + salt + u16(
        len(name)
    ) + name


def local_record(key, nonce, data_key, bound, salt, name):
    key_id = hashlib.sha256(b"sealstream local key id v1\0" + key).hexdigest()[:16]
    aad = binding_aad(b"sealstream local wrap v2", key_id.encode(), bound, salt, name)
    wrapped = b"\x01" + nonce + AESGCM(key).encrypt(nonce, data_key, aad)
    return {"local_key_id": key_id, "local_aad": aad, "local_wrapped": wrapped}


def raw_public(private):
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def x25519_record(sk, esk, data_key, bound, salt, name):
    recipient = X25519PrivateKey.from_private_bytes(sk)
    eph = X25519PrivateKey.from_private_bytes(esk)
    pk, epk = raw_public(recipient), raw_public(eph)
    shared = eph.exchange(X25519PublicKey.from_public_bytes(pk))
    assert shared == recipient.exchange(X25519PublicKey.from_public_bytes(epk))
    info = b"sealstream x25519 wrap v2"
    prk = hmac.new(epk + pk, shared, hashlib.sha256).digest()
    wrap_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=epk + pk, info=info).derive(shared)
    assert wrap_key == hmac.new(prk, info + b"\x01", hashlib.sha256).digest()
    key_id = hashlib.sha256(b"sealstream x25519 fingerprint v1\0" + pk).hexdigest()[:16]
    aad = binding_aad(info, key_id.encode(), bound, salt, name)
    wrapped = b"\x01" + epk + ChaCha20Poly1305(wrap_key).encrypt(bytes(12), data_key, aad)
    return {
        "x25519_pk": pk,
        "x25519_key_id": key_id,
        "x25519_epk": epk,
        "x25519_shared": shared,
        "x25519_prk": prk,
        "x25519_wrap_key": wrap_key,
        "x25519_aad": aad,
        "x25519_wrapped": wrapped,
    }


def seq(start, n=32):
    return bytes(range(start, start + n))


def format_kats(xchacha):
    """The known answers of FORMAT.md's worked example, recomputed from its text alone."""
    out = {}
    data_key, salt, name = seq(0x00), seq(0x40, 24), b"backups/db.tar"
    for suite in (1, 2):
        bound = bound_section(suite, [("app", "backup")])
        aead_name, nonce_len = SUITES[suite]
        info = LABEL + aead_name + b"\0" + salt + bound
        okm = hkdf_expand_sha512(data_key, info, 64 + nonce_len)
        p = f"s{suite}_"
        out[p + "context"] = bound
        out[p + "info"] = info
        out[p + "key"] = okm[:32]
        out[p + "base_nonce"] = okm[32 : 32 + nonce_len]
        out[p + "commitment"] = okm[32 + nonce_len :]
        for label, plain in (("hello", b"hello"), ("empty", b"")):
            body = seal_body(suite, data_key, salt, bound, plain, xchacha)
            out[p + label + "_chunk0"] = body[56:]
        if suite == 1:
            out["s1_hello_body"] = seal_body(suite, data_key, salt, bound, b"hello", xchacha)
    bound = out["s1_context"]
    local = local_record(seq(0xE0), seq(0xA0, 12), data_key, bound, salt, name)
    x = x25519_record(seq(0x20), seq(0x60), data_key, bound, salt, name)
    out.update(local)
    out.update(x)
    records = [
        (b"local", local["local_key_id"].encode(), local["local_wrapped"]),
        (b"x25519", x["x25519_key_id"].encode(), x["x25519_wrapped"]),
    ]
    fields = header_fields(bound, name, records)
    out["header_fields"] = fields
    hdr = header(bound, name, records)
    out["object_hello_sha256"] = hashlib.sha256(hdr + out["s1_hello_body"]).digest()
    # The multi-chunk body: 2 x 16384 bytes of i % 251, then "hello".
    plain = bytes(i % 251 for i in range(2 * CHUNK)) + b"hello"
    body = seal_body(1, data_key, salt, bound, plain, xchacha)
    base = out["s1_base_nonce"]
    for i in range(3):
        out[f"multi_nonce{i}"] = bytes(a ^ b for a, b in zip(base, i.to_bytes(12, "big")))
    for i in range(2):
        chunk = body[56 + i * 16400 : 56 + (i + 1) * 16400]
        out[f"multi_chunk{i}_sha256"] = hashlib.sha256(chunk).digest()
        out[f"multi_chunk{i}_tag"] = chunk[-16:]
    out["multi_chunk2"] = body[56 + 2 * 16400 :]
    out["multi_body_sha256"] = hashlib.sha256(body).digest()
    out["multi_object_sha256"] = hashlib.sha256(hdr + body).digest()
    d = Cobblestone256Decryptor(data_key, bound)
    assert d.update(body) + d.finalize() == plain
    return out


def check_format(path, xchacha):
    """Every value of format_kats must appear in FORMAT.md (hex, ignoring spaces and case)."""
    with open(path, encoding="utf-8") as f:
        text = "".join(f.read().lower().split())
    kats = format_kats(xchacha)
    def shown(v):
        return v if isinstance(v, str) else v.hex()

    missing = [k for k, v in kats.items() if shown(v) not in text]
    # Long values are wrapped in FORMAT.md's code blocks; the whitespace-free text holds them
    # whole unless a label sits in between, which the check would then report.
    assert not missing, f"{path}: known answers missing or different: {', '.join(missing)}"
    print(f"ok {path}: {len(kats)} known answers of the worked example")


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
    xchacha_mode, xchacha = xchacha_impl(xchacha_mode)
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
        name = case.get("name_", "").encode()
        bound = bound_section(suite, pairs)
        hdr = header(bound, name, records)
        assert bound.hex() == case["context"], f"{where}: bound section"
        assert header_fields(bound, name, records).hex() == case["header_fields"], f"{where}: header"
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


def xchacha_impl(mode):
    if mode == "auto":
        try:
            import Crypto  # noqa: F401

            mode = "pycryptodome"
        except ImportError:
            mode = "hchacha"
    return mode, {"pycryptodome": xchacha_seal_pycryptodome, "hchacha": xchacha_seal_hchacha}[mode]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xchacha", choices=["auto", "pycryptodome", "hchacha"], default="auto")
    ap.add_argument("--format", help="docs/FORMAT.md: check its worked example's known answers")
    ap.add_argument("--print-kats", action="store_true", help="print the worked example's values")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    if args.print_kats:
        for k, v in format_kats(xchacha_impl(args.xchacha)[1]).items():
            print(f"{k} = {v if isinstance(v, str) else v.hex()}")
        return 0
    if args.format:
        check_format(args.format, xchacha_impl(args.xchacha)[1])
    n = sum(check(f, args.xchacha) for f in args.files)
    print(f"check_vectors: {n} cases match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
