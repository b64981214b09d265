#!/usr/bin/env python3
"""The pyca/cryptography side of tests/it/interop_pyca.rs: C2SP Cobblestone-256 bodies.

  cobblestone.py decrypt KEY_HEX CONTEXT_HEX FILE...
      Opens each FILE (a sealstream body: salt || commitment || chunks) with
      Cobblestone256Decryptor and prints "FILE ok LEN SHA256" for its plaintext, or
      "FILE error EXCEPTION" when pyca rejects it.
  cobblestone.py encrypt KEY_HEX CONTEXT_HEX OUT_DIR SIZE...
      Seals SIZE bytes of the generator "byte i is i % 251" with Cobblestone256Encryptor (which
      draws its own salt) and writes the body to OUT_DIR/SIZE.body.

Data goes through update() in pieces that do not line up with chunks, so pyca's streaming path is
what is tested.
"""

import hashlib
import os
import sys

import cryptography
from cryptography.cobblestone import Cobblestone256Decryptor, Cobblestone256Encryptor

PIECE = 10007


def mod251(n):
    pattern = bytes(range(251))
    return (pattern * (n // 251 + 1))[:n]


def decrypt(key, context, files):
    for path in files:
        with open(path, "rb") as f:
            body = f.read()
        d = Cobblestone256Decryptor(key, context)
        out = []
        try:
            for i in range(0, len(body), PIECE):
                out.append(d.update(body[i : i + PIECE]))
            out.append(d.finalize())
        except Exception as e:  # noqa: BLE001 - the Rust side wants the class name
            print(f"{path} error {type(e).__name__}")
            continue
        plain = b"".join(out)
        print(f"{path} ok {len(plain)} {hashlib.sha256(plain).hexdigest()}")


def encrypt(key, context, out_dir, sizes):
    for size in sizes:
        plain = mod251(size)
        e = Cobblestone256Encryptor(key, context)
        out = [e.update(plain[i : i + PIECE]) for i in range(0, len(plain), PIECE)]
        out.append(e.finalize())
        with open(os.path.join(out_dir, f"{size}.body"), "wb") as f:
            f.write(b"".join(out))
        print(f"{size} sealed")


def main(argv):
    if len(argv) < 4 or argv[1] not in ("decrypt", "encrypt"):
        sys.exit(__doc__)
    print(f"pyca/cryptography {cryptography.__version__}")
    key, context = bytes.fromhex(argv[2]), bytes.fromhex(argv[3])
    if argv[1] == "decrypt":
        decrypt(key, context, argv[4:])
    else:
        encrypt(key, context, argv[4], [int(s) for s in argv[5:]])


if __name__ == "__main__":
    main(sys.argv)
