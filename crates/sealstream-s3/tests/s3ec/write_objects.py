"""Writes S3 Encryption Client objects with the real Python client (the interop oracle).

Usage: write_objects.py BUCKET PREFIX [KMS_KEY_ID] [--instruction-only] [--with-tampered]   (endpoints and credentials from the environment:
SEALSTREAM_TEST_S3_ENDPOINT, SEALSTREAM_TEST_KMS_ENDPOINT, AWS_*). Prints a JSON manifest on
stdout: the KMS key id and one entry per object (key, format, storage, size, seed, context).

Plaintext of `size` bytes with `seed` is byte i = (i * 31 + seed) % 251, which tests/integration/s3ec.rs
rebuilds to compare byte for byte.
"""
import base64
import json
import os
import sys

import boto3
from s3_encryption import S3EncryptionClient, S3EncryptionClientConfig
from s3_encryption.materials.kms_keyring import KmsKeyring
from s3_encryption.materials.materials import AlgorithmSuite, CommitmentPolicy

SIZES = [0, 1, 16 * 1024, 5 * 1024 * 1024 + 1, 40 * 1024 * 1024]
CONTEXT = {"department": "finance", "purpose": "interop"}


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


def client(fmt, key_id):
    # Every S3EncryptionClient gets its own boto3 clients: it registers handlers on them.
    keyring = KmsKeyring(kms_client=kms(), kms_key_id=key_id)
    if fmt == "V2":
        config = S3EncryptionClientConfig(
            keyring=keyring,
            encryption_algorithm=AlgorithmSuite.ALG_AES_256_GCM_IV12_TAG16_NO_KDF,
            commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT,
        )
    else:
        config = S3EncryptionClientConfig(
            keyring=keyring,
            encryption_algorithm=AlgorithmSuite.ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        )
    return S3EncryptionClient(wrapped_s3_client=s3(), config=config)


def to_instruction_file(plain_s3, bucket, key, fmt):
    """Moves the key metadata of a client-written object into KEY.instruction, as the
    Java/Go clients lay it out (metadata-strategy.md "Instruction File")."""
    head = plain_s3.head_object(Bucket=bucket, Key=key)
    meta = head["Metadata"]
    body = plain_s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if fmt == "V2":
        in_object, in_file = {}, dict(meta)
    else:
        keep = {"x-amz-c", "x-amz-d", "x-amz-i"}
        in_object = {k: v for k, v in meta.items() if k in keep}
        in_file = {k: v for k, v in meta.items() if k not in keep}
    plain_s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=in_object)
    plain_s3.put_object(Bucket=bucket, Key=key + ".instruction", Body=json.dumps(in_file).encode())


def main():
    bucket, prefix = sys.argv[1], sys.argv[2]
    given = [a for a in sys.argv[3:] if not a.startswith("--")]
    key_id = given[0] if given else kms().create_key()["KeyMetadata"]["KeyId"]
    sizes = [] if "--instruction-only" in sys.argv else SIZES
    plain_s3 = s3()
    out = []
    seed = 0
    for fmt in ["V2", "V3"]:
        for size in sizes:
            for ctx in [None, CONTEXT]:
                seed += 1
                key = f"{prefix}{fmt.lower()}-{size}-{'ctx' if ctx else 'noctx'}"
                args = {"Bucket": bucket, "Key": key, "Body": plaintext(size, seed)}
                if ctx:
                    args["EncryptionContext"] = dict(ctx)
                client(fmt, key_id).put_object(**args)
                out.append({"key": key, "format": fmt, "storage": "metadata", "size": size,
                            "seed": seed, "context": ctx or {}})
        # Instruction-file storage: the Python client reads it but does not write it.
        for ctx in [None, CONTEXT]:
            seed += 1
            size = 16 * 1024 + 3
            key = f"{prefix}{fmt.lower()}-inst-{'ctx' if ctx else 'noctx'}"
            args = {"Bucket": bucket, "Key": key, "Body": plaintext(size, seed)}
            if ctx:
                args["EncryptionContext"] = dict(ctx)
            client(fmt, key_id).put_object(**args)
            to_instruction_file(plain_s3, bucket, key, fmt)
            get = {"Bucket": bucket, "Key": key}
            if ctx:
                get["EncryptionContext"] = dict(ctx)
            back = client(fmt, key_id).get_object(**get)["Body"].read()
            assert back == plaintext(size, seed), "the Python client cannot read its own object from an instruction file"
            out.append({"key": key, "format": fmt, "storage": "instruction-file", "size": size,
                        "seed": seed, "context": ctx or {}})
    tampered = write_tampered(plain_s3, bucket, prefix, out) if "--with-tampered" in sys.argv else []
    json.dump({"kms_key_id": key_id, "objects": out, "tampered": tampered}, sys.stdout)


def write_tampered(plain_s3, bucket, prefix, objects):
    """Tampered copies of some client-written objects, under PREFIX/tampered/."""
    def copy(src, name, edit_body=None, edit_meta=None, instruction=None):
        dst = f"{prefix}tampered/{name}"
        body = bytearray(plain_s3.get_object(Bucket=bucket, Key=src["key"])["Body"].read())
        meta = plain_s3.head_object(Bucket=bucket, Key=src["key"])["Metadata"]
        if edit_body:
            edit_body(body)
        if edit_meta:
            edit_meta(meta)
        plain_s3.put_object(Bucket=bucket, Key=dst, Body=bytes(body), Metadata=meta)
        if src["storage"] == "instruction-file":
            inst = instruction or plain_s3.get_object(Bucket=bucket, Key=src["key"] + ".instruction")["Body"].read()
            plain_s3.put_object(Bucket=bucket, Key=dst + ".instruction", Body=inst)
        return {"key": dst, "context": src["context"]}

    def flip(i):
        def f(b):
            b[i] ^= 1
        return f

    def flip_b64(field):
        def f(m):
            raw = bytearray(base64.b64decode(m[field]))
            raw[0] ^= 1
            m[field] = base64.b64encode(bytes(raw)).decode()
        return f

    def recontext(field):
        def f(m):
            m[field] = m[field].replace("finance", "finanze")
        return f

    by = {o["key"][len(prefix):]: o for o in objects}
    out = []
    for fmt, ctx_field in [("v2", "x-amz-matdesc"), ("v3", "x-amz-t")]:
        o = by[f"{fmt}-16384-ctx"]
        out.append(copy(o, f"{fmt}-ct", edit_body=flip(100)))
        out.append(copy(o, f"{fmt}-tag", edit_body=flip(-1)))
        t = copy(o, f"{fmt}-kmsctx", edit_meta=recontext(ctx_field))
        t["context"] = dict(o["context"], department="finanze")
        out.append(t)
        # Another object's instruction file (same KMS key and context).
        a, b = by[f"{fmt}-inst-ctx"], by[f"{fmt}-inst-noctx"]
        other = plain_s3.get_object(Bucket=bucket, Key=a["key"] + ".instruction")["Body"].read()
        t = copy(b, f"{fmt}-inst-swapped", instruction=other)
        t["context"] = a["context"]
        out.append(t)
    out.append(copy(by["v3-16384-ctx"], "v3-commitment", edit_meta=flip_b64("x-amz-d")))
    return out


if __name__ == "__main__":
    main()
