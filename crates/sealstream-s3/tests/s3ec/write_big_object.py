"""One large V2 S3 Encryption Client object, streamed, for the bounded-memory migrate run
(scripts/heavy/s3ec-migrate). Usage: write_big_object.py BUCKET KEY SIZE_BYTES; prints
{"kms_key_id", "sha256"} (of the plaintext) as JSON.

The real Python client buffers a whole object in put_object, so it writes a small object here
and its metadata is the template: the data key is recovered with KMS Decrypt, the large body is
AES-256-GCM under that key with a fresh IV (x-amz-iv replaced) and uploaded in 64 MiB parts;
x-amz-unencrypted-content-length, if present, is updated. Plaintext byte i = (i * 31 + 7) % 251.
"""
import base64
import hashlib
import json
import os
import sys

import boto3
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from s3_encryption import S3EncryptionClient, S3EncryptionClientConfig
from s3_encryption.materials.kms_keyring import KmsKeyring
from s3_encryption.materials.materials import AlgorithmSuite, CommitmentPolicy

PART = 64 * 1024 * 1024


def s3():
    return boto3.client("s3", endpoint_url=os.environ["SEALSTREAM_TEST_S3_ENDPOINT"],
                        config=boto3.session.Config(s3={"addressing_style": "path"}))


def kms():
    return boto3.client("kms", endpoint_url=os.environ["SEALSTREAM_TEST_KMS_ENDPOINT"])


def main():
    bucket, key, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    key_id = kms().create_key()["KeyMetadata"]["KeyId"]
    config = S3EncryptionClientConfig(
        keyring=KmsKeyring(kms_client=kms(), kms_key_id=key_id),
        encryption_algorithm=AlgorithmSuite.ALG_AES_256_GCM_IV12_TAG16_NO_KDF,
        commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT,
    )
    S3EncryptionClient(wrapped_s3_client=s3(), config=config).put_object(Bucket=bucket, Key=key, Body=b"template")
    plain_s3 = s3()
    meta = plain_s3.head_object(Bucket=bucket, Key=key)["Metadata"]
    data_key = kms().decrypt(CiphertextBlob=base64.b64decode(meta["x-amz-key-v2"]),
                             EncryptionContext=json.loads(meta["x-amz-matdesc"]))["Plaintext"]
    iv = os.urandom(12)
    meta["x-amz-iv"] = base64.b64encode(iv).decode()
    if "x-amz-unencrypted-content-length" in meta:
        meta["x-amz-unencrypted-content-length"] = str(size)
    enc = Cipher(algorithms.AES(data_key), modes.GCM(iv)).encryptor()
    period = bytes((i * 31 + 7) % 251 for i in range(251))
    block = period * (PART // 251 + 2)
    digest = hashlib.sha256()
    up = plain_s3.create_multipart_upload(Bucket=bucket, Key=key, Metadata=meta)["UploadId"]
    parts, done, n = [], 0, 1
    while done < size:
        take = min(PART, size - done)
        off = done % 251
        chunk = block[off:off + take]
        digest.update(chunk)
        body = enc.update(chunk)
        done += take
        if done == size:
            enc.finalize()
            body += enc.tag
        etag = plain_s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=n, Body=body)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
        n += 1
    plain_s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={"Parts": parts})
    json.dump({"kms_key_id": key_id, "sha256": digest.hexdigest()}, sys.stdout)


if __name__ == "__main__":
    main()
