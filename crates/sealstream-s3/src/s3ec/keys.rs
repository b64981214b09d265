//! Unwrapping an S3EC data key and deriving the content key.
//!
//! kms+context: KMS Decrypt with the stored context (s3-kms-keyring.md
//! "Kms+Context"), after checking the caller's context against it. V3:
//! HKDF-SHA512 (key-derivation.md "HKDF Operation"), the commitment
//! compared in constant time before the content key is used
//! (decryption.md "Decrypting With Commitment").

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_smithy_types::Blob;
use ring::hkdf;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::gcm::{IV_LEN, KEY_LEN};
use super::metadata::{CEK_ALG_CONTEXT_KEY, COMMIT_LEN, Content, Envelope, Wrapping};
use super::{Error, Result};

/// Suite 115's id as bytes: the HKDF info prefix and the GCM AAD.
const SUITE_ID: [u8; 2] = [0x00, 0x73];
/// V3's fixed GCM IV (key-derivation.md).
const V3_IV: [u8; IV_LEN] = [0x01; IV_LEN];

/// The keys that can open S3EC objects.
#[derive(Clone, Default)]
pub struct S3ecKeys {
    kms: Option<aws_sdk_kms::Client>,
    kms_key_ids: Vec<String>,
}

impl fmt::Debug for S3ecKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3ecKeys")
            .field("kms", &self.kms.is_some())
            .field("kms_key_ids", &self.kms_key_ids)
            .finish()
    }
}

impl S3ecKeys {
    /// KMS, tried with each of `key_ids` as the Decrypt `KeyId` in turn;
    /// with none, KMS picks the key from the ciphertext blob (any key the
    /// credentials may use).
    pub fn kms(client: aws_sdk_kms::Client, key_ids: Vec<String>) -> Self {
        S3ecKeys {
            kms: Some(client),
            kms_key_ids: key_ids,
        }
    }
}

/// The key, IV and AAD the content is sealed under.
pub(crate) struct ContentKey {
    pub(crate) key: Zeroizing<[u8; KEY_LEN]>,
    pub(crate) iv: [u8; IV_LEN],
    pub(crate) aad: &'static [u8],
}

/// Checks the caller's context (if any) against the stored one.
pub(crate) fn check_context(
    object: &str,
    env: &Envelope,
    wanted: Option<&BTreeMap<String, String>>,
) -> Result<()> {
    let Some(wanted) = wanted else {
        return Ok(());
    };
    if wanted.contains_key(CEK_ALG_CONTEXT_KEY) {
        return Err(Error::ContextMismatch {
            object: object.to_owned(),
            detail: format!("{CEK_ALG_CONTEXT_KEY} is reserved for the S3 Encryption Client"),
        });
    }
    let stored = env.user_context();
    if &stored != wanted {
        let show = |m: &BTreeMap<String, String>| {
            let v: Vec<String> = m.keys().cloned().collect();
            format!("[{}]", v.join(", "))
        };
        return Err(Error::ContextMismatch {
            object: object.to_owned(),
            detail: format!(
                "the object was written with the context keys {}, the caller gave {}",
                show(&stored),
                show(wanted)
            ),
        });
    }
    Ok(())
}

/// Unwraps the data key and derives the content key (checking V3's
/// commitment).
pub(crate) async fn content_key(
    object: &str,
    env: &Envelope,
    keys: &S3ecKeys,
) -> Result<ContentKey> {
    let data_key = unwrap(object, env, keys).await?;
    match &env.content {
        Content::Gcm { iv } => Ok(ContentKey {
            key: data_key,
            iv: *iv,
            aad: &[],
        }),
        Content::Committing {
            message_id,
            commitment,
        } => {
            let (dek, ck) = derive(&data_key, message_id);
            if !bool::from(ck.ct_eq(commitment)) {
                return Err(Error::CommitmentMismatch {
                    object: object.to_owned(),
                });
            }
            Ok(ContentKey {
                key: dek,
                iv: V3_IV,
                aad: &SUITE_ID,
            })
        }
    }
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA512: salt = message id, IKM = data key; info = suite id ||
/// "DERIVEKEY" (32 bytes) and suite id || "COMMITKEY" (28 bytes).
pub(crate) fn derive(
    data_key: &[u8; KEY_LEN],
    message_id: &[u8; COMMIT_LEN],
) -> (Zeroizing<[u8; KEY_LEN]>, Zeroizing<[u8; COMMIT_LEN]>) {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA512, message_id).extract(data_key);
    let mut dek = Zeroizing::new([0u8; KEY_LEN]);
    let mut ck = Zeroizing::new([0u8; COMMIT_LEN]);
    // Both lengths are far below HKDF-SHA512's 255 * 64 byte limit.
    #[allow(clippy::expect_used)]
    {
        prk.expand(&[&SUITE_ID, b"DERIVEKEY"], Len(KEY_LEN))
            .and_then(|okm| okm.fill(dek.as_mut_slice()))
            .expect("HKDF output length within limits");
        prk.expand(&[&SUITE_ID, b"COMMITKEY"], Len(COMMIT_LEN))
            .and_then(|okm| okm.fill(ck.as_mut_slice()))
            .expect("HKDF output length within limits");
    }
    (dek, ck)
}

async fn unwrap(object: &str, env: &Envelope, keys: &S3ecKeys) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    match env.wrapping {
        Wrapping::KmsContext => unwrap_kms(object, env, keys).await,
        Wrapping::AesGcm => Err(Error::Refused {
            object: object.to_owned(),
            detail: "its data key is wrapped with a raw AES key (AES/GCM); this build reads \
                     S3 Encryption Client objects with KMS-wrapped keys (kms+context) only"
                .into(),
        }),
        Wrapping::RsaOaepSha1 => Err(Error::Refused {
            object: object.to_owned(),
            detail: "its data key is wrapped with an RSA key (RSA-OAEP-SHA1); this build reads \
                     S3 Encryption Client objects with KMS-wrapped keys (kms+context) only"
                .into(),
        }),
    }
}

async fn unwrap_kms(
    object: &str,
    env: &Envelope,
    keys: &S3ecKeys,
) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let Some(kms) = &keys.kms else {
        return Err(Error::NoKey {
            object: object.to_owned(),
            detail: "its data key is wrapped by AWS KMS (kms+context) and no KMS client is \
                     configured; pass --kms-key"
                .into(),
        });
    };
    let context: HashMap<String, String> = env.context.clone().into_iter().collect();
    let ids: Vec<Option<&str>> = if keys.kms_key_ids.is_empty() {
        vec![None]
    } else {
        keys.kms_key_ids.iter().map(|k| Some(k.as_str())).collect()
    };
    let mut last = String::new();
    for id in ids {
        let resp = kms
            .decrypt()
            .ciphertext_blob(Blob::new(env.wrapped_key.clone()))
            .set_encryption_context(Some(context.clone()))
            .set_key_id(id.map(str::to_owned))
            .send()
            .await;
        match resp {
            Ok(out) => {
                let plain = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
                let key: [u8; KEY_LEN] =
                    plain.as_slice().try_into().map_err(|_| Error::Malformed {
                        object: object.to_owned(),
                        detail: format!("KMS returned a {}-byte data key, not 32", plain.len()),
                    })?;
                return Ok(Zeroizing::new(key));
            }
            Err(e) => {
                let code = e.code().unwrap_or("").to_owned();
                let detail = match (e.code(), e.message()) {
                    (Some(c), Some(m)) => format!("{c}: {m}"),
                    (Some(c), None) => c.to_owned(),
                    _ => aws_sdk_kms::error::DisplayErrorContext(&e).to_string(),
                };
                match code.as_str() {
                    "InvalidCiphertextException" => {
                        return Err(Error::KmsRefused {
                            object: object.to_owned(),
                            detail,
                        });
                    }
                    "IncorrectKeyException" | "AccessDeniedException" | "NotFoundException" => {
                        last = detail;
                    }
                    _ => {
                        return Err(Error::Kms {
                            object: object.to_owned(),
                            detail,
                        });
                    }
                }
            }
        }
    }
    Err(Error::NoKey {
        object: object.to_owned(),
        detail: format!("no configured KMS key can decrypt it ({last})"),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// HKDF-SHA512 as the Python S3EC computes it (an HMAC extract, then
    /// cryptography's HKDFExpand), checked against an independent
    /// HMAC-based expansion here.
    #[test]
    fn derivation_is_hkdf_sha512_with_suite_info() {
        use ring::hmac;
        let data_key = [0x11u8; 32];
        let message_id = [0x22u8; 28];
        let (dek, ck) = derive(&data_key, &message_id);
        let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA512, &message_id), &data_key);
        let prk = hmac::Key::new(hmac::HMAC_SHA512, prk.as_ref());
        let t1 = |label: &[u8]| {
            let mut msg = SUITE_ID.to_vec();
            msg.extend_from_slice(label);
            msg.push(1);
            hmac::sign(&prk, &msg)
        };
        assert_eq!(&dek[..], &t1(b"DERIVEKEY").as_ref()[..32]);
        assert_eq!(&ck[..], &t1(b"COMMITKEY").as_ref()[..28]);
    }
}
