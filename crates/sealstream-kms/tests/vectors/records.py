# Independent computation of sealstream key-record vectors (format version 2) with
# pyca/cryptography, from docs/FORMAT.md "Key records" alone. Run: python3 records.py > records.txt
import hashlib, struct, base64
import cryptography
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes, serialization

FORMAT_VERSION = 2

def rng(a, n): return bytes(range(a, a+n))
def field(b): return struct.pack(">H", len(b)) + b
def ctx_encode(pairs):
    out = struct.pack(">H", len(pairs))
    for k, v in sorted(pairs):
        out += bytes([len(k)]) + k.encode() + struct.pack(">H", len(v)) + v.encode()
    return out
def bound(suite, pairs):
    return bytes([FORMAT_VERSION, suite]) + ctx_encode(pairs)
def aad(label, key_id, bound_section, salt, name):
    return label + b"\x00" + field(key_id.encode()) + field(bound_section) + salt + field(name.encode())
def kms_context(suite, pairs, salt, name):
    c = dict(pairs)
    c["sealstream:version"] = str(FORMAT_VERSION)
    c["sealstream:suite"] = str(suite)
    c["sealstream:salt"] = salt.hex()
    if name:
        c["sealstream:name"] = name
    return ";".join(f"{k}={v}" for k, v in sorted(c.items()))

pairs = [("app", "backup")]
name = "backups/db.tar"
salt = rng(0xa0, 24)
data_key = rng(0x80, 32)
print(f"# sealstream key-record vectors, format version 2 (docs/FORMAT.md, \"Key records\").")
print(f"# Provenance: computed by records.py in this folder with pyca/cryptography {cryptography.__version__}")
print("# (AESGCM, X25519, HKDF-SHA256, ChaCha20Poly1305), independently of the Rust code.")
print('# Context {"app": "backup"}, name "backups/db.tar"; local is suite 1, x25519 suite 2.')
print("# kms_context_* list the AWS KMS encryption context as sorted key=value pairs joined by ';'.")
print("data_key =", data_key.hex())
print("salt =", salt.hex())
print("name =", name)
# local
lk = rng(0x00, 32)
lid = hashlib.sha256(b"sealstream local key id v1" + b"\x00" + lk).digest()[:8].hex()
nonce = rng(0x40, 12)
b1 = bound(1, pairs)
a = aad(b"sealstream local wrap v2", lid, b1, salt, name)
wrapped = b"\x01" + nonce + AESGCM(lk).encrypt(nonce, data_key, a)
print("local_key =", lk.hex()); print("local_key_id =", lid); print("local_nonce =", nonce.hex())
print("local_bound =", b1.hex())
print("local_aad =", a.hex()); print("local_wrapped =", wrapped.hex())
# the same record unbound (empty name)
a0 = aad(b"sealstream local wrap v2", lid, b1, salt, "")
print("local_aad_unnamed =", a0.hex())
print("local_wrapped_unnamed =", (b"\x01" + nonce + AESGCM(lk).encrypt(nonce, data_key, a0)).hex())
# x25519
sk = rng(0x20, 32); esk = rng(0x60, 32)
rsk = X25519PrivateKey.from_private_bytes(sk); pk = rsk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
e = X25519PrivateKey.from_private_bytes(esk); epk = e.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
shared = e.exchange(X25519PublicKey.from_public_bytes(pk))
wk = HKDF(hashes.SHA256(), 32, salt=epk + pk, info=b"sealstream x25519 wrap v2").derive(shared)
fp = hashlib.sha256(b"sealstream x25519 fingerprint v1" + b"\x00" + pk).digest()[:8].hex()
b2 = bound(2, pairs)
a2 = aad(b"sealstream x25519 wrap v2", fp, b2, salt, name)
xw = b"\x01" + epk + ChaCha20Poly1305(wk).encrypt(b"\x00"*12, data_key, a2)
def text(prefix, k):
    c = hashlib.sha256(prefix.encode() + k).digest()[:4]
    return prefix + base64.urlsafe_b64encode(k + c).decode().rstrip("=")
print("x25519_secret =", sk.hex()); print("x25519_public =", pk.hex())
print("x25519_public_text =", text("sealstream-x25519-pub1:", pk))
print("x25519_secret_text =", text("sealstream-x25519-secret1:", sk))
print("x25519_fingerprint =", fp); print("x25519_ephemeral_secret =", esk.hex()); print("x25519_ephemeral_public =", epk.hex())
print("x25519_shared =", shared.hex()); print("x25519_wrap_key =", wk.hex())
print("x25519_bound =", b2.hex())
print("x25519_aad =", a2.hex()); print("x25519_wrapped =", xw.hex())
# aws-kms encryption contexts
print("kms_context_suite1 =", kms_context(1, pairs, salt, name))
print("kms_context_suite2_unnamed =", kms_context(2, pairs, salt, ""))
# aws-kms-batch: the per-object data key derived from a batch key (HKDF-Expand-SHA-512, no Extract)
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
batch_key = rng(0xc0, 32)
batch_arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
def batch_context(pairs):
    c = {k: v for k, v in pairs if not k.startswith("sealstream:")}
    c["sealstream:version"] = str(FORMAT_VERSION)
    c["sealstream:key"] = "batch"
    return ";".join(f"{k}={v}" for k, v in sorted(c.items()))
print("batch_key =", batch_key.hex())
print("batch_arn =", batch_arn)
print("batch_kms_context =", batch_context(pairs + [("sealstream:mode", "644")]))
for suite, nm, label in [(1, name, "batch_data_key_suite1"), (2, "", "batch_data_key_suite2_unnamed")]:
    info = aad(b"sealstream aws-kms-batch v2", batch_arn, bound(suite, pairs), salt, nm)
    print(label + "_info =", info.hex())
    print(label + " =", HKDFExpand(hashes.SHA512(), 32, info).derive(batch_key).hex())
# aws-kms-batch `wrapped` values (docs/FORMAT.md, "aws-kms-batch"): 0x01 || CiphertextBlob, the
# blob 1 to 6144 bytes (opaque here, so any bytes). batch_wrapped_* are well-formed (a reader
# passes them to Decrypt); batch_invalid_* are unusable records a reader refuses without calling
# KMS. An empty `wrapped` is refused by the header itself (format vector wrapped_len_zero).
blob = rng(0xd0, 40)
print("batch_wrapped_blob_min =", (b"\x01" + b"\xd0").hex())
print("batch_wrapped_blob_max =", (b"\x01" + bytes([0xd0]) * 6144).hex())
print("batch_invalid_version_only =", b"\x01".hex())
print("batch_invalid_version_00 =", (b"\x00" + blob).hex())
print("batch_invalid_version_02 =", (b"\x02" + blob).hex())
print("batch_invalid_version_ff =", (b"\xff" + blob).hex())
print("batch_invalid_blob_too_long =", (b"\x01" + bytes([0xd0]) * 6145).hex())
