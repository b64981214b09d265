# Independent computation of sealstream key-record vectors with pyca/cryptography.
import hashlib, struct, base64
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes, serialization

def rng(a, n): return bytes(range(a, a+n))
def ctx_encode(pairs):
    out = struct.pack(">H", len(pairs))
    for k, v in sorted(pairs):
        out += bytes([len(k)]) + k.encode() + struct.pack(">H", len(v)) + v.encode()
    return out
def aad(label, key_id, suite, pairs):
    return label + b"\x00" + struct.pack(">H", len(key_id)) + key_id.encode() + bytes([suite]) + ctx_encode(pairs)

pairs = [("app", "backup")]
data_key = rng(0x80, 32)
# local
lk = rng(0x00, 32)
lid = hashlib.sha256(b"sealstream local key id v1" + b"\x00" + lk).digest()[:8].hex()
nonce = rng(0x40, 12)
a = aad(b"sealstream local wrap v1", lid, 1, pairs)
wrapped = b"\x01" + nonce + AESGCM(lk).encrypt(nonce, data_key, a)
print("local_key =", lk.hex()); print("local_key_id =", lid); print("local_nonce =", nonce.hex())
print("local_aad =", a.hex()); print("local_wrapped =", wrapped.hex())
# x25519
sk = rng(0x20, 32); esk = rng(0x60, 32)
rsk = X25519PrivateKey.from_private_bytes(sk); pk = rsk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
e = X25519PrivateKey.from_private_bytes(esk); epk = e.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
shared = e.exchange(X25519PublicKey.from_public_bytes(pk))
wk = HKDF(hashes.SHA256(), 32, salt=epk + pk, info=b"sealstream x25519 wrap v1").derive(shared)
fp = hashlib.sha256(b"sealstream x25519 fingerprint v1" + b"\x00" + pk).digest()[:8].hex()
a2 = aad(b"sealstream x25519 wrap v1", fp, 2, pairs)
xw = b"\x01" + epk + ChaCha20Poly1305(wk).encrypt(b"\x00"*12, data_key, a2)
def text(prefix, k):
    c = hashlib.sha256(prefix.encode() + k).digest()[:4]
    return prefix + base64.urlsafe_b64encode(k + c).decode().rstrip("=")
print("x25519_secret =", sk.hex()); print("x25519_public =", pk.hex())
print("x25519_public_text =", text("sealstream-x25519-pub1:", pk))
print("x25519_secret_text =", text("sealstream-x25519-secret1:", sk))
print("x25519_fingerprint =", fp); print("x25519_ephemeral_secret =", esk.hex()); print("x25519_ephemeral_public =", epk.hex())
print("x25519_shared =", shared.hex()); print("x25519_wrap_key =", wk.hex())
print("x25519_aad =", a2.hex()); print("x25519_wrapped =", xw.hex())
