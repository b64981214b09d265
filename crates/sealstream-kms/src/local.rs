//! The local key file provider (`local`): a 256-bit wrapping key kept in a
//! text file on the sealing and opening host. The CLI's zero-configuration
//! default.
//!
//! # Key file format (docs/FORMAT.md, "Key records", `local`)
//!
//! UTF-8 text, lines ended by LF or CRLF (the last may lack it). Empty lines
//! and lines beginning with `#` are comments. The remaining lines are
//! exactly, in order, with no white space before or after them:
//!
//! ```text
//! sealstream-local-key v1
//! id 3f2a9c0b1d4e5f60
//! key 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
//! ```
//!
//! - line 1 is the version line, literally `sealstream-local-key v1`;
//! - `id` is the key id: 16 lowercase hex digits, the first 8 bytes of
//!   `SHA-256("sealstream local key id v1" || 0x00 || key)`. It names the key
//!   in key records without revealing it, and is checked against the key on
//!   load (a typo or a corrupted file is caught);
//! - `key` is the 32-byte key as 64 lowercase hex digits.
//!
//! The file is created by [`LocalKeyProvider::generate`] with mode 0600,
//! atomically (a temporary file created with `O_EXCL`, then linked into
//! place, so an existing key is never overwritten unless
//! [`Overwrite::DangerReplaceExisting`] is passed). [`LocalKeyProvider::from_file`]
//! refuses a file that group or others may read or write.
//!
//! # Record
//!
//! ```text
//! wrapped = 0x01 || nonce (12) || AES-256-GCM(key, nonce, data key, aad) (32) || tag (16)
//! aad     = "sealstream local wrap v2" || 0x00 || u16 len(key_id) || key_id
//!           || u16 len(bound) || bound || salt (24) || u16 len(name) || name
//! ```
//!
//! where `bound` is the object's bound section (version, suite, context),
//! `salt` the body's salt and `name` the object name (empty if unbound): a
//! record unwraps only for the object, body and name it was made for.
//!
//! ```text
//! ```
//!
//! The nonce is random, so one local key may wrap at most 2^32 data keys
//! (NIST SP 800-38D, 8.3); at one object per millisecond that is 136 years.

use std::fmt;
use std::path::Path;

use async_trait::async_trait;
use ring::aead::{AES_256_GCM, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sealstream_format::{DATA_KEY_LEN, DataKey, KeyRecord};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keyfile::{self, Overwrite, Secrecy};
use crate::provider::{KeyProvider, WrapContext, wrap_aad};
use crate::record;

/// The provider id of local key file records.
pub const LOCAL_PROVIDER_ID: &str = "local";

/// The version line of a local key file.
pub const LOCAL_KEY_FILE_VERSION_LINE: &str = "sealstream-local-key v1";

const AAD_LABEL: &[u8] = b"sealstream local wrap v2";
const ID_LABEL: &[u8] = b"sealstream local key id v1";

/// A local 256-bit wrapping key, usually loaded from a key file.
///
/// Wraps data keys with AES-256-GCM. The 32 key bytes are kept on the heap
/// in zeroizing storage (wiped when the provider is dropped, never copied by
/// a move of the provider). ring's expanded AES key is built for each wrap or
/// unwrap and dropped right after it; ring does not wipe that key schedule
/// (docs/SECURITY.md), so it stays in freed memory until reused, but it is
/// not kept alive between calls.
pub struct LocalKeyProvider {
    id: String,
    key: Box<Zeroizing<[u8; DATA_KEY_LEN]>>,
    source: String,
}

impl fmt::Debug for LocalKeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKeyProvider")
            .field("key_id", &self.id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl LocalKeyProvider {
    /// Creates a new key file at `path` (mode 0600, atomically) with a fresh
    /// random key, and returns the provider for it. Fails if `path` exists,
    /// unless `overwrite` is [`Overwrite::DangerReplaceExisting`].
    pub fn generate(path: impl AsRef<Path>, overwrite: Overwrite) -> Result<Self> {
        let path = path.as_ref();
        let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        SystemRandom::new()
            .fill(key.as_mut())
            .map_err(|_| Error::Format(sealstream_format::Error::Random))?;
        let id = key_id_of(&key);
        let hex = keyfile::hex_encode_secret(key.as_ref());
        let mut text = Zeroizing::new(String::with_capacity(512));
        text.push_str(
            "# sealstream local key. Anyone who can read this file can open every object\n\
             # sealed with it: keep it at mode 0600 and back it up somewhere safe (losing it\n\
             # loses the data). Format: docs/FORMAT.md, \"Key records\".\n",
        );
        text.push_str(LOCAL_KEY_FILE_VERSION_LINE);
        text.push_str("\nid ");
        text.push_str(&id);
        text.push_str("\nkey ");
        text.push_str(&hex);
        text.push('\n');
        keyfile::write_key_file(path, text.as_bytes(), Secrecy::Secret, overwrite)?;
        Self::build(&key, id, path.display().to_string())
    }

    /// Loads a key file (see the module docs for the format). Refuses a
    /// file that group or others may read or write.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = keyfile::read_key_file(path, Secrecy::Secret)?;
        Self::from_file_bytes(path, &bytes)
    }

    /// Parses the contents of the key file at `path` (already read, at most
    /// 4096 bytes); `path` only names it in messages.
    pub(crate) fn from_file_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let bad = |reason: &str| Error::KeyFile {
            path: path.display().to_string(),
            reason: reason.to_owned(),
        };
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8 text"))?;
        let lines = keyfile::content_lines(text).map_err(|reason| bad(&reason))?;
        let mut lines = lines.into_iter().map(|(_, l)| l);
        if lines.next() != Some(LOCAL_KEY_FILE_VERSION_LINE) {
            return Err(bad(
                "not a sealstream local key file (the first line must be \
                 `sealstream-local-key v1`)",
            ));
        }
        let id = lines
            .next()
            .and_then(|l| l.strip_prefix("id "))
            .ok_or_else(|| bad("the second line must be `id <16 hex digits>`"))?;
        let key_hex = lines
            .next()
            .and_then(|l| l.strip_prefix("key "))
            .ok_or_else(|| bad("the third line must be `key <64 lowercase hex digits>`"))?;
        if lines.next().is_some() {
            return Err(bad("unexpected lines after the `key` line"));
        }
        let key = keyfile::hex_decode_secret::<DATA_KEY_LEN>(key_hex)
            .ok_or_else(|| bad("the key must be exactly 64 lowercase hex digits (32 bytes)"))?;
        let expected = key_id_of(&key);
        if id != expected {
            return Err(bad(
                "the `id` line does not match the key: the file was edited or corrupted \
                 (restore it from a backup)",
            ));
        }
        Self::build(&key, expected, path.display().to_string())
    }

    /// A provider for raw key bytes held elsewhere (a secrets manager, an
    /// HSM export). The caller keeps and wipes its copy. `source` names the
    /// key's origin in messages; it must not be secret.
    pub fn from_key_bytes(key: &[u8; DATA_KEY_LEN], source: impl Into<String>) -> Result<Self> {
        Self::build(key, key_id_of(key), source.into())
    }

    fn build(key: &[u8; DATA_KEY_LEN], id: String, source: String) -> Result<Self> {
        let mut stored = Box::new(Zeroizing::new([0u8; DATA_KEY_LEN]));
        stored.copy_from_slice(key);
        Ok(LocalKeyProvider {
            id,
            key: stored,
            source,
        })
    }

    /// The AES-256-GCM key for one wrap or unwrap (see the type's docs for
    /// why it is not kept).
    fn aead_key(&self) -> Result<LessSafeKey> {
        let unbound = UnboundKey::new(&AES_256_GCM, self.key.as_slice())
            .map_err(|_| Error::Config("AES-256-GCM rejected a 32-byte key".into()))?;
        Ok(LessSafeKey::new(unbound))
    }

    /// The key id written into records: 16 hex digits derived from the key.
    pub fn key_id(&self) -> &str {
        &self.id
    }

    fn aad(&self, ctx: WrapContext<'_>) -> Result<Vec<u8>> {
        wrap_aad(AAD_LABEL, &self.id, ctx)
    }
}

fn key_id_of(key: &[u8; DATA_KEY_LEN]) -> String {
    keyfile::short_id(&[ID_LABEL, &[0u8], key])
}

#[async_trait]
impl KeyProvider for LocalKeyProvider {
    fn provider_id(&self) -> &'static str {
        LOCAL_PROVIDER_ID
    }

    fn describe(&self) -> String {
        format!("local key {} ({})", self.id, self.source)
    }

    async fn wrap(&self, key: &DataKey, ctx: WrapContext<'_>) -> Result<KeyRecord> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::Format(sealstream_format::Error::Random))?;
        self.wrap_with_nonce(key, ctx, nonce)
    }

    fn accepts(&self, record: &KeyRecord) -> bool {
        record.provider() == LOCAL_PROVIDER_ID && record.key_id() == self.id
    }

    async fn unwrap_unverified(&self, record: &KeyRecord, ctx: WrapContext<'_>) -> Result<DataKey> {
        self.unwrap_record(record, ctx)
    }
}

impl LocalKeyProvider {
    /// The wrapping with a given nonce; the nonce must never repeat under
    /// this key (the provider draws it at random).
    pub(crate) fn wrap_with_nonce(
        &self,
        key: &DataKey,
        ctx: WrapContext<'_>,
        nonce: [u8; NONCE_LEN],
    ) -> Result<KeyRecord> {
        let aad = self.aad(ctx)?;
        let nonce_for_key = Nonce::assume_unique_for_key(nonce);
        let wrapped = record::seal(&self.aead_key()?, nonce_for_key, aad, &nonce, key)
            .map_err(|_| Error::Config("AES-256-GCM sealing failed".into()))?;
        Ok(KeyRecord::new(LOCAL_PROVIDER_ID, self.id.clone(), wrapped)?)
    }

    fn unwrap_record(&self, record: &KeyRecord, ctx: WrapContext<'_>) -> Result<DataKey> {
        let (nonce, sealed) =
            record::parse::<NONCE_LEN>(LOCAL_PROVIDER_ID, "a nonce", record.wrapped())?;
        let nonce = Nonce::assume_unique_for_key(*nonce);
        record::open(&self.aead_key()?, nonce, self.aad(ctx)?, sealed, || {
            Error::UnwrapFailed {
                provider: LOCAL_PROVIDER_ID,
                key_id: self.id.clone(),
                reason: "authentication failed: the record was wrapped by another key, or for \
                         another object (another body salt or name), or the object's encryption \
                         context or suite was changed, or the record was modified"
                    .into(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::test_vectors::{Vectors, unhex};
    use sealstream_format::{EncryptionContext, Header, Suite};

    /// Byte-for-byte against the vector computed with pyca/cryptography
    /// (tests/vectors/records.txt).
    #[test]
    fn wrap_matches_the_vector() {
        let v = Vectors::load();
        let key: [u8; 32] = unhex(v.get("local_key")).try_into().unwrap();
        let p = LocalKeyProvider::from_key_bytes(&key, "vector").unwrap();
        assert_eq!(p.key_id(), v.get("local_key_id"));
        let context = EncryptionContext::from_pairs([("app", "backup")]).unwrap();
        let bound = Header::bound_section_for(Suite::Aes256Gcm, &context);
        assert_eq!(bound, unhex(v.get("local_bound")));
        let salt: [u8; 24] = unhex(v.get("salt")).try_into().unwrap();
        let ctx = WrapContext {
            suite: Suite::Aes256Gcm,
            context: &context,
            bound: &bound,
            salt: &salt,
            name: v.get("name"),
        };
        assert_eq!(p.aad(ctx).unwrap(), unhex(v.get("local_aad")));
        let data_key = DataKey::from_slice(&unhex(v.get("data_key"))).unwrap();
        let nonce: [u8; NONCE_LEN] = unhex(v.get("local_nonce")).try_into().unwrap();
        let record = p.wrap_with_nonce(&data_key, ctx, nonce).unwrap();
        assert_eq!(record.wrapped(), unhex(v.get("local_wrapped")));
        assert_eq!(
            p.unwrap_record(&record, ctx).unwrap().expose_secret(),
            data_key.expose_secret()
        );
        let unnamed = WrapContext { name: "", ..ctx };
        assert_eq!(p.aad(unnamed).unwrap(), unhex(v.get("local_aad_unnamed")));
        let record0 = p.wrap_with_nonce(&data_key, unnamed, nonce).unwrap();
        assert_eq!(record0.wrapped(), unhex(v.get("local_wrapped_unnamed")));
        // Bound to the name and the salt: either changed, it does not unwrap.
        let other_salt = [0xa1u8; 24];
        for (record, moved) in [
            (
                &record,
                WrapContext {
                    name: "backups/other.tar",
                    ..ctx
                },
            ),
            (&record, unnamed),
            (&record0, ctx),
            (
                &record,
                WrapContext {
                    salt: &other_salt,
                    ..ctx
                },
            ),
        ] {
            assert!(matches!(
                p.unwrap_record(record, moved),
                Err(Error::UnwrapFailed { .. })
            ));
        }
    }
}
