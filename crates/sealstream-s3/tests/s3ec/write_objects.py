"""Writes S3 Encryption Client objects with the real Python client (the interop oracle).

Usage: write_objects.py BUCKET PREFIX [KMS_KEY_ID [--instruction-only]]   (endpoints and credentials from the environment:
SEALSTREAM_TEST_S3_ENDPOINT, SEALSTREAM_TEST_KMS_ENDPOINT, AWS_*). Prints a JSON manifest on
stdout: the KMS key id and one entry per object (key, format, storage, size, seed, context).

Plaintext of `size` bytes with `seed` is byte i = (i * 31 + seed) % 251, which tests/s3ec.rs
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
    key_id = sys.argv[3] if len(sys.argv) > 3 else kms().create_key()["KeyMetadata"]["KeyId"]
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
    json.dump({"kms_key_id": key_id, "objects": out}, sys.stdout)


if __name__ == "__main__":
    main()
