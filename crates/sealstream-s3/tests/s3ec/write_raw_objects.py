"""S3 Encryption Client objects whose data key is wrapped with a raw AES key or an RSA key.

Usage: write_raw_objects.py BUCKET PREFIX KEY_DIR   (endpoints and credentials from the
environment, as for write_objects.py). Prints a JSON manifest on stdout.

The Python client (4.0.0) has only a KMS keyring, so it cannot write these wrappings itself
(docs/S3EC.md). What is real here: the content, its IV, message id, commitment and metadata
layout are the Python client's own output (written with its KMS keyring); the data key is then
recovered with KMS Decrypt and re-wrapped the way the Java client's AesKeyring and RsaKeyring do
(AES-GCM with the content algorithm's name, or suite id "115", as AAD; RSA-OAEP-SHA1 of
len || key || that name), the wrapping fields replaced, and the real Python client's decrypt
pipeline, given a keyring that unwraps the same way, reads every object back before it is used.

KEY_DIR receives the keys, mode 0600: aes256.key (32 raw bytes), aes128.b64 (base64 text),
rsa.pem (PKCS#8 PEM, 2048 bits) and, for wrong-key tests, other-aes256.key and other-rsa.pem.
"""
import base64
import json
import os
import sys

import boto3
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from s3_encryption import S3EncryptionClient, S3EncryptionClientConfig
from s3_encryption.materials.keyring import S3Keyring
from s3_encryption.materials.kms_keyring import KmsKeyring
from s3_encryption.materials.materials import AlgorithmSuite, CommitmentPolicy

SIZES = [0, 1, 16 * 1024, 5 * 1024 * 1024 + 1]
OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)


def plaintext(size, seed):
    period = bytes((i * 31 + seed) % 251 for i in range(251))
    return (period * (size // 251 + 1))[:size]


def s3():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["SEALSTREAM_TEST_S3_ENDPOINT"],
        config=boto3.session.Config(s3={"addressing_style": "path"}),
    )


def kms():
    return boto3.client("kms", endpoint_url=os.environ["SEALSTREAM_TEST_KMS_ENDPOINT"])


def config(fmt, keyring):
    if fmt == "V2":
        return S3EncryptionClientConfig(
            keyring=keyring,
            encryption_algorithm=AlgorithmSuite.ALG_AES_256_GCM_IV12_TAG16_NO_KDF,
            commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT,
        )
    return S3EncryptionClientConfig(
        keyring=keyring, encryption_algorithm=AlgorithmSuite.ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    )


def binding(fmt):
    """What the Java client's raw keyrings bind the data key to."""
    return b"AES/GCM/NoPadding" if fmt == "V2" else b"115"


class RawKeyring(S3Keyring):
    """Unwraps AES/GCM and RSA-OAEP-SHA1 data keys as the Java client's keyrings do (decrypt only)."""

    def __init__(self, fmt, aes_key=None, rsa_key=None):
        self.fmt, self.aes_key, self.rsa_key = fmt, aes_key, rsa_key

    def on_encrypt(self, enc_materials):
        raise NotImplementedError("decrypt only")

    def on_decrypt(self, dec_materials, encrypted_data_keys=None):
        dec_materials = super().on_decrypt(dec_materials, encrypted_data_keys)
        edk = (encrypted_data_keys or dec_materials.encrypted_data_keys)[0]
        blob = edk.encrypted_data_key
        if edk.key_provider_info == "AES/GCM":
            key = AESGCM(self.aes_key).decrypt(blob[:12], blob[12:], binding(self.fmt))
        elif edk.key_provider_info == "RSA-OAEP-SHA1":
            pseudo = self.rsa_key.decrypt(blob, OAEP)
            n = pseudo[0]
            assert pseudo[1 + n:] == binding(self.fmt), "pseudo data key names another algorithm"
            key = pseudo[1:1 + n]
        else:
            raise ValueError(f"unexpected wrapping {edk.key_provider_info}")
        dec_materials.plaintext_data_key = key
        return dec_materials


def write_key(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def rsa_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def main():
    bucket, prefix, key_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(key_dir, exist_ok=True)
    aes256, aes128, other = os.urandom(32), os.urandom(16), os.urandom(32)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_key(os.path.join(key_dir, "aes256.key"), aes256)
    write_key(os.path.join(key_dir, "aes128.b64"), base64.b64encode(aes128) + b"\n")
    write_key(os.path.join(key_dir, "other-aes256.key"), other)
    write_key(os.path.join(key_dir, "rsa.pem"), rsa_pem(rsa_key))
    write_key(os.path.join(key_dir, "other-rsa.pem"), rsa_pem(other_rsa))

    kms_client = kms()
    key_id = kms_client.create_key()["KeyMetadata"]["KeyId"]
    plain_s3 = s3()
    out = []
    seed = 1000
    wrappings = [("aes256", "AES/GCM", "02"), ("aes128", "AES/GCM", "02"), ("rsa", "RSA-OAEP-SHA1", "22")]
    for fmt in ["V2", "V3"]:
        for wrap_name, wrap_alg, wrap_v3 in wrappings:
            for size in SIZES:
                seed += 1
                key = f"{prefix}{fmt.lower()}-{wrap_name}-{size}"
                body = plaintext(size, seed)
                writer = S3EncryptionClient(wrapped_s3_client=s3(), config=config(fmt, KmsKeyring(kms_client=kms(), kms_key_id=key_id)))
                writer.put_object(Bucket=bucket, Key=key, Body=body)
                meta = plain_s3.head_object(Bucket=bucket, Key=key)["Metadata"]
                sealed = plain_s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                if fmt == "V2":
                    wrapped, ctx = meta["x-amz-key-v2"], json.loads(meta["x-amz-matdesc"])
                else:
                    wrapped, ctx = meta["x-amz-3"], json.loads(meta["x-amz-t"])
                data_key = kms_client.decrypt(
                    CiphertextBlob=base64.b64decode(wrapped), EncryptionContext=ctx
                )["Plaintext"]
                if wrap_alg == "AES/GCM":
                    wkey = aes256 if wrap_name == "aes256" else aes128
                    iv = os.urandom(12)
                    new = iv + AESGCM(wkey).encrypt(iv, data_key, binding(fmt))
                else:
                    new = rsa_key.public_key().encrypt(bytes([len(data_key)]) + data_key + binding(fmt), OAEP)
                b64 = base64.b64encode(new).decode()
                if fmt == "V2":
                    meta.update({"x-amz-key-v2": b64, "x-amz-wrap-alg": wrap_alg, "x-amz-matdesc": "{}"})
                else:
                    meta.pop("x-amz-t", None)
                    meta.update({"x-amz-3": b64, "x-amz-w": wrap_v3})
                plain_s3.put_object(Bucket=bucket, Key=key, Body=sealed, Metadata=meta)
                reader = S3EncryptionClient(
                    wrapped_s3_client=s3(),
                    config=config(fmt, RawKeyring(fmt, aes_key=aes256 if wrap_name == "aes256" else aes128, rsa_key=rsa_key)),
                )
                back = reader.get_object(Bucket=bucket, Key=key)["Body"].read()
                assert back == body, f"the Python client cannot read {key} back"
                out.append({"key": key, "format": fmt, "wrapping": wrap_alg, "wrap_key": wrap_name,
                            "size": size, "seed": seed})
    json.dump({"kms_key_id": key_id, "objects": out}, sys.stdout)


if __name__ == "__main__":
    main()
