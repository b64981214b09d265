//! X25519 recipients (`x25519`): seal for a public key, open with the
//! matching secret key. A sealing host that holds only the public key
//! ([`X25519Recipient`]) cannot open what it wrote; the holder of the secret
//! key ([`X25519Identity`]) can.
//!
//! # Keys as text
//!
//! ```text
//! public key: "sealstream-x25519-pub1:"    || base64url(pk || check)   (48 characters)
//! secret key: "sealstream-x25519-secret1:" || base64url(sk || check)   (48 characters)
//! check     = SHA-256(prefix || key)[0..4]
//! ```
//!
//! base64url is RFC 4648 section 5 without padding; `prefix` is the text
//! before the 48 characters, colon included. The 4-byte check catches typos
//! and truncation (a public key with a typo would seal objects nobody can
//! open). Key files hold that one line, plus `#` comment lines; the secret
//! key file also carries the public key in a comment. Secret key files are
//! created with mode 0600 and refused if group or others may read or write
//! them.
//!
//! The fingerprint (the record's key id) is 16 lowercase hex digits: the
//! first 8 bytes of `SHA-256("sealstream x25519 fingerprint v1" || 0x00 || pk)`.
//!
//! # Record (ephemeral-static ECDH, as in age and HPKE base mode)
//!
//! ```text
//! esk, epk   = fresh X25519 key pair for this wrapping
//! shared     = X25519(esk, pk)                 (all-zero output is refused)
//! wrap_key   = HKDF-SHA256(ikm = shared, salt = epk || pk,
//!                          info = "sealstream x25519 wrap v2", L = 32)
//! sealed     = ChaCha20-Poly1305(wrap_key, nonce = 12 zero bytes, data key, aad)
//! aad        = "sealstream x25519 wrap v2" || 0x00 || u16 len(key_id) || key_id
//!              || u16 len(bound) || bound || salt (24) || u16 len(name) || name
//! wrapped    = 0x01 || epk (32) || sealed (32 + 16)     = 81 bytes
//! ```
//!
//! The all-zero nonce is safe because every wrap key is used once: it is
//! derived from a fresh ephemeral key. ChaCha20-Poly1305 was chosen (as in
//! age) because it needs no AES hardware and its one-shot use of a fresh
//! key makes GCM's nonce concerns moot either way.

use std::fmt;
use std::path::Path;

use async_trait::async_trait;
use base64ct::{Base64UrlUnpadded, Encoding};
use ring::aead::{CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::digest;
use ring::hkdf::{HKDF_SHA256, Salt};
use ring::rand::{SecureRandom, SystemRandom};
use sealstream_format::{DataKey, KeyRecord};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keyfile::{self, Overwrite, Secrecy};
use crate::provider::{KeyProvider, WrapContext, wrap_aad};
use crate::record;

/// The provider id of X25519 recipient records.
pub const X25519_PROVIDER_ID: &str = "x25519";
/// The text prefix of a recipient public key.
pub const X25519_PUBLIC_PREFIX: &str = "sealstream-x25519-pub1:";
/// The text prefix of a secret key.
pub const X25519_SECRET_PREFIX: &str = "sealstream-x25519-secret1:";

const KEY_LEN: usize = 32;
const CHECK_LEN: usize = 4;
const WRAP_LABEL: &[u8] = b"sealstream x25519 wrap v2";
const FINGERPRINT_LABEL: &[u8] = b"sealstream x25519 fingerprint v1";

fn check_of(prefix: &str, key: &[u8; KEY_LEN]) -> [u8; CHECK_LEN] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(prefix.as_bytes());
    ctx.update(key);
    let d = ctx.finish();
    let mut out = [0u8; CHECK_LEN];
    if let Some(c) = d.as_ref().get(..CHECK_LEN) {
        out.copy_from_slice(c);
    }
    out
}

/// Encodes `prefix || base64url(key || check)` into zeroizing storage.
fn encode_key(prefix: &str, key: &[u8; KEY_LEN]) -> Zeroizing<String> {
    let mut raw = Zeroizing::new([0u8; KEY_LEN + CHECK_LEN]);
    let (k, c) = raw.split_at_mut(KEY_LEN);
    k.copy_from_slice(key);
    c.copy_from_slice(&check_of(prefix, key));
    let mut buf = Zeroizing::new([0u8; 48]);
    let mut out = Zeroizing::new(String::with_capacity(prefix.len() + 48));
    out.push_str(prefix);
    // 36 bytes are exactly 48 base64 characters; encoding cannot fail.
    if let Ok(s) = Base64UrlUnpadded::encode(raw.as_ref(), buf.as_mut()) {
        out.push_str(s);
    }
    out
}

/// Decodes the text form; `what` names the key kind for messages.
fn decode_key(prefix: &str, text: &str, what: &str) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let bad = |reason: String| Error::Config(format!("invalid {what}: {reason}"));
    let body = text.strip_prefix(prefix).ok_or_else(|| {
        bad(format!(
            "it must start with `{prefix}` (see docs/FORMAT.md, \"Key records\")"
        ))
    })?;
    let mut raw = Zeroizing::new([0u8; KEY_LEN + CHECK_LEN]);
    let decoded_len = Base64UrlUnpadded::decode(body, raw.as_mut())
        .map_err(|_| bad("not 48 characters of unpadded base64url".into()))?
        .len();
    if decoded_len != KEY_LEN + CHECK_LEN {
        return Err(bad("not 48 characters of unpadded base64url".into()));
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    let (k, c) = raw.split_at(KEY_LEN);
    key.copy_from_slice(k);
    if !bool::from(check_of(prefix, &key).ct_eq(c)) {
        return Err(bad(
            "the checksum does not match: the key was mistyped or truncated".into(),
        ));
    }
    Ok(key)
}

fn fingerprint_of(pk: &PublicKey) -> String {
    keyfile::short_id(&[FINGERPRINT_LABEL, &[0u8], pk.as_bytes()])
}

/// HKDF-SHA256(ikm = shared, salt = epk || pk, info = the wrap label).
fn wrap_key_bytes(
    shared: &[u8; KEY_LEN],
    epk: &PublicKey,
    pk: &PublicKey,
) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let mut salt = [0u8; 2 * KEY_LEN];
    let (a, b) = salt.split_at_mut(KEY_LEN);
    a.copy_from_slice(epk.as_bytes());
    b.copy_from_slice(pk.as_bytes());
    let prk = Salt::new(HKDF_SHA256, &salt).extract(shared);
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    prk.expand(&[WRAP_LABEL], &CHACHA20_POLY1305)
        .and_then(|okm| okm.fill(out.as_mut()))
        .map_err(|_| Error::Config("HKDF-SHA256 refused a 32-byte output".into()))?;
    Ok(out)
}

fn wrap_key(shared: &[u8; KEY_LEN], epk: &PublicKey, pk: &PublicKey) -> Result<LessSafeKey> {
    let bytes = wrap_key_bytes(shared, epk, pk)?;
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, bytes.as_ref())
        .map_err(|_| Error::Config("ChaCha20-Poly1305 rejected a 32-byte key".into()))?;
    Ok(LessSafeKey::new(unbound))
}

/// A recipient's public key: seals data keys that only the holder of the
/// matching secret key can open. Cannot open anything itself.
#[derive(Clone)]
pub struct X25519Recipient {
    public: PublicKey,
    fingerprint: String,
}

impl fmt::Debug for X25519Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X25519Recipient")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// The public key's text form (`sealstream-x25519-pub1:...`).
impl fmt::Display for X25519Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = encode_key(X25519_PUBLIC_PREFIX, self.public.as_bytes());
        f.write_str(&text)
    }
}

impl std::str::FromStr for X25519Recipient {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl X25519Recipient {
    /// Parses the text form `sealstream-x25519-pub1:...` (as pasted on a
    /// command line: white space around it is ignored; key files are
    /// stricter, see [`X25519Recipient::from_file`]). The whole text of a
    /// public key file is accepted too, comment lines and all, so that
    /// `--recipient "$(cat key.pub)"` works: then the key file's line rules
    /// apply (one key line; `#` comments and blank lines).
    pub fn parse(text: &str) -> Result<Self> {
        let trimmed = text.trim();
        if trimmed.contains('\n') || trimmed.starts_with('#') {
            let line = single_line(
                Path::new("the recipient text"),
                trimmed.as_bytes(),
                X25519_PUBLIC_PREFIX,
            )?;
            let bytes = decode_key(X25519_PUBLIC_PREFIX, line, "X25519 public key")?;
            return Ok(Self::from_public(PublicKey::from(*bytes)));
        }
        let bytes = decode_key(X25519_PUBLIC_PREFIX, trimmed, "X25519 public key")?;
        Ok(Self::from_public(PublicKey::from(*bytes)))
    }

    /// Loads a public key file: one `sealstream-x25519-pub1:` line, plus
    /// comments (the line rules of docs/FORMAT.md, "Key files": LF or CRLF,
    /// no white space around the key line).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = keyfile::read_key_file(path, Secrecy::Public)?;
        Self::from_file_bytes(path, &bytes)
    }

    /// Parses the contents of the public key file at `path` (already read);
    /// `path` only names it in messages.
    pub(crate) fn from_file_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let line = single_line(path, bytes, X25519_PUBLIC_PREFIX)?;
        Self::parse(line).map_err(|e| Error::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    fn from_public(public: PublicKey) -> Self {
        let fingerprint = fingerprint_of(&public);
        X25519Recipient {
            public,
            fingerprint,
        }
    }

    /// The fingerprint: the key id of this recipient's records.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The raw 32-byte public key.
    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.public.to_bytes()
    }

    /// Writes the public key file (mode 0644, atomically, never replacing
    /// an existing file unless asked).
    pub fn write_file(&self, path: impl AsRef<Path>, overwrite: Overwrite) -> Result<()> {
        let text = format!(
            "# sealstream X25519 recipient (public key {}). Give it to whoever seals\n\
             # objects for you; it cannot open anything.\n{self}\n",
            self.fingerprint
        );
        keyfile::write_key_file(path.as_ref(), text.as_bytes(), Secrecy::Public, overwrite)
    }

    fn seal(&self, key: &DataKey, ctx: WrapContext<'_>) -> Result<KeyRecord> {
        let mut esk_bytes = Zeroizing::new([0u8; KEY_LEN]);
        SystemRandom::new()
            .fill(esk_bytes.as_mut())
            .map_err(|_| Error::Format(sealstream_format::Error::Random))?;
        self.seal_with_ephemeral(key, ctx, &esk_bytes)
    }

    /// The wrapping with a given ephemeral secret, which must be fresh for
    /// every wrapping ([`X25519Recipient::seal`] draws it at random).
    pub(crate) fn seal_with_ephemeral(
        &self,
        key: &DataKey,
        ctx: WrapContext<'_>,
        esk_bytes: &[u8; KEY_LEN],
    ) -> Result<KeyRecord> {
        let esk = StaticSecret::from(*esk_bytes);
        let epk = PublicKey::from(&esk);
        let shared = esk.diffie_hellman(&self.public);
        drop(esk);
        if !shared.was_contributory() {
            return Err(Error::Config(format!(
                "X25519 recipient {} is a low-order point, not a usable public key",
                self.fingerprint
            )));
        }
        let wkey = wrap_key(shared.as_bytes(), &epk, &self.public)?;
        drop(shared);
        let aad = wrap_aad(WRAP_LABEL, &self.fingerprint, ctx)?;
        let wrapped = record::seal(&wkey, zero_nonce(), aad, epk.as_bytes(), key)
            .map_err(|_| Error::Config("ChaCha20-Poly1305 sealing failed".into()))?;
        Ok(KeyRecord::new(
            X25519_PROVIDER_ID,
            self.fingerprint.clone(),
            wrapped,
        )?)
    }
}

#[async_trait]
impl KeyProvider for X25519Recipient {
    fn provider_id(&self) -> &'static str {
        X25519_PROVIDER_ID
    }

    fn describe(&self) -> String {
        format!("X25519 recipient {} (public key only)", self.fingerprint)
    }

    async fn wrap(&self, key: &DataKey, ctx: WrapContext<'_>) -> Result<KeyRecord> {
        self.seal(key, ctx)
    }

    /// Never: a public key cannot open anything.
    fn accepts(&self, _record: &KeyRecord) -> bool {
        false
    }

    async fn unwrap_unverified(
        &self,
        record: &KeyRecord,
        _ctx: WrapContext<'_>,
    ) -> Result<DataKey> {
        Err(Error::UnwrapFailed {
            provider: X25519_PROVIDER_ID,
            key_id: record.key_id().to_owned(),
            reason: format!(
                "this host holds only the public key of recipient {}; opening needs its \
                 secret key file",
                self.fingerprint
            ),
        })
    }
}

/// A secret key: opens records sealed for its public key (and, as a
/// provider, also seals for it).
pub struct X25519Identity {
    secret: StaticSecret,
    recipient: X25519Recipient,
    source: String,
}

impl fmt::Debug for X25519Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X25519Identity")
            .field("fingerprint", &self.recipient.fingerprint)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl X25519Identity {
    /// Creates a new key pair: the secret key file at `secret_path` (mode
    /// 0600) and, if given, the public key file at `public_path`. Both are
    /// created atomically and never replace existing files unless
    /// `overwrite` says so.
    pub fn generate(
        secret_path: impl AsRef<Path>,
        public_path: Option<&Path>,
        overwrite: Overwrite,
    ) -> Result<Self> {
        let secret_path = secret_path.as_ref();
        if overwrite == Overwrite::Never {
            for p in std::iter::once(secret_path).chain(public_path) {
                if p.symlink_metadata().is_ok() {
                    return Err(Error::KeyFile {
                        path: p.display().to_string(),
                        reason: "the file already exists; refusing to overwrite a key".into(),
                    });
                }
            }
        }
        let mut sk = Zeroizing::new([0u8; KEY_LEN]);
        SystemRandom::new()
            .fill(sk.as_mut())
            .map_err(|_| Error::Format(sealstream_format::Error::Random))?;
        let identity = Self::from_secret_bytes(&sk, secret_path.display().to_string());
        let encoded = encode_key(X25519_SECRET_PREFIX, &sk);
        let mut text = Zeroizing::new(String::with_capacity(512));
        text.push_str(
            "# sealstream X25519 identity (secret key). Anyone who can read this file can\n\
             # open every object sealed for it: keep it at mode 0600 and back it up.\n\
             # public key: ",
        );
        text.push_str(&identity.recipient.to_string());
        text.push('\n');
        text.push_str(&encoded);
        text.push('\n');
        keyfile::write_key_file(secret_path, text.as_bytes(), Secrecy::Secret, overwrite)?;
        if let Some(p) = public_path {
            identity.recipient.write_file(p, overwrite)?;
        }
        Ok(identity)
    }

    /// Loads a secret key file. Refuses a file that group or others may
    /// read or write.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = keyfile::read_key_file(path, Secrecy::Secret)?;
        Self::from_file_bytes(path, &bytes)
    }

    /// Parses the contents of the secret key file at `path` (already read);
    /// `path` only names it in messages.
    pub(crate) fn from_file_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let line = single_line(path, bytes, X25519_SECRET_PREFIX)?;
        let sk = decode_key(X25519_SECRET_PREFIX, line, "X25519 secret key").map_err(|e| {
            Error::KeyFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            }
        })?;
        Ok(Self::from_secret_bytes(&sk, path.display().to_string()))
    }

    /// An identity from raw secret key bytes held elsewhere. The caller
    /// keeps and wipes its copy; `source` names the origin in messages.
    pub fn from_secret_bytes(secret: &[u8; KEY_LEN], source: impl Into<String>) -> Self {
        let secret = StaticSecret::from(*secret);
        let recipient = X25519Recipient::from_public(PublicKey::from(&secret));
        X25519Identity {
            secret,
            recipient,
            source: source.into(),
        }
    }

    /// The public half, to hand to sealing hosts.
    pub fn recipient(&self) -> &X25519Recipient {
        &self.recipient
    }

    /// The fingerprint of the public key (the key id of its records).
    pub fn fingerprint(&self) -> &str {
        &self.recipient.fingerprint
    }
}

#[async_trait]
impl KeyProvider for X25519Identity {
    fn provider_id(&self) -> &'static str {
        X25519_PROVIDER_ID
    }

    fn describe(&self) -> String {
        format!(
            "X25519 identity {} ({})",
            self.recipient.fingerprint, self.source
        )
    }

    async fn wrap(&self, key: &DataKey, ctx: WrapContext<'_>) -> Result<KeyRecord> {
        self.recipient.seal(key, ctx)
    }

    fn accepts(&self, record: &KeyRecord) -> bool {
        record.provider() == X25519_PROVIDER_ID && record.key_id() == self.recipient.fingerprint
    }

    async fn unwrap_unverified(&self, record: &KeyRecord, ctx: WrapContext<'_>) -> Result<DataKey> {
        let failed = |reason: &str| Error::UnwrapFailed {
            provider: X25519_PROVIDER_ID,
            key_id: self.recipient.fingerprint.clone(),
            reason: reason.to_owned(),
        };
        let (epk, sealed) =
            record::parse::<KEY_LEN>(X25519_PROVIDER_ID, "an ephemeral key", record.wrapped())?;
        let epk = PublicKey::from(*epk);
        let shared = self.secret.diffie_hellman(&epk);
        if !shared.was_contributory() {
            return Err(failed(
                "the record's ephemeral key is a low-order point (a malformed or hostile record)",
            ));
        }
        let wkey = wrap_key(shared.as_bytes(), &epk, &self.recipient.public)?;
        drop(shared);
        let aad = wrap_aad(WRAP_LABEL, &self.recipient.fingerprint, ctx)?;
        record::open(&wkey, zero_nonce(), aad, sealed, || {
            failed(
                "authentication failed: the record was sealed for another key, or for \
                 another object (another body salt or name), or the object's encryption \
                 context or suite was changed, or the record was modified",
            )
        })
    }
}

/// The all-zero nonce: each wrap key seals one data key (module docs).
fn zero_nonce() -> Nonce {
    Nonce::assume_unique_for_key([0u8; NONCE_LEN])
}

/// The one content line of a key file, which must start with `prefix`
/// (line rules: [`keyfile::content_lines`]).
fn single_line<'a>(path: &Path, bytes: &'a [u8], prefix: &str) -> Result<&'a str> {
    let bad = |reason: String| Error::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
    let lines = keyfile::content_lines(text).map_err(bad)?;
    let mut lines = lines.into_iter();
    let (n, line) = lines
        .next()
        .ok_or_else(|| bad(format!("no `{prefix}...` line found")))?;
    if !line.starts_with(prefix) {
        return Err(bad(format!(
            "line {n}: expected a line starting with `{prefix}` (is this the right kind of key \
             file?)"
        )));
    }
    if let Some((n, _)) = lines.next() {
        return Err(bad(format!("line {n}: more than one key line")));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::test_vectors::{Vectors, unhex};
    use sealstream_format::{EncryptionContext, Header, Suite};

    /// The text of a `.pub` file, as `"$(cat key.pub)"` passes it (comment
    /// lines, no trailing newline), parses to the same recipient; two key
    /// lines, or a comment-only text, do not.
    #[test]
    fn a_public_key_files_text_is_a_recipient() {
        let dir = std::env::temp_dir().join(format!("sealstream-pubtext-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k.pub");
        let identity =
            X25519Identity::generate(dir.join("k"), Some(&path), Overwrite::Never).unwrap();
        let r = identity.recipient();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with('#'), "{text}");
        let parsed = X25519Recipient::parse(text.trim_end()).unwrap();
        assert_eq!(parsed.fingerprint(), r.fingerprint());
        assert_eq!(
            X25519Recipient::parse(&text).unwrap().to_bytes(),
            r.to_bytes()
        );
        let line = r.to_string();
        assert!(X25519Recipient::parse(&format!("{line}\n{line}")).is_err());
        assert!(X25519Recipient::parse("# only a comment").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Byte-for-byte against the vector computed with pyca/cryptography
    /// (tests/vectors/records.txt).
    #[test]
    fn key_files_recognise_public_keys() {
        assert!(keyfile::PUBLIC_KEY_PREFIXES.contains(&X25519_PUBLIC_PREFIX));
    }

    #[tokio::test]
    async fn seal_matches_the_vector() {
        let v = Vectors::load();
        let sk: [u8; 32] = unhex(v.get("x25519_secret")).try_into().unwrap();
        let id = X25519Identity::from_secret_bytes(&sk, "vector");
        assert_eq!(
            id.recipient().to_bytes().to_vec(),
            unhex(v.get("x25519_public"))
        );
        assert_eq!(id.fingerprint(), v.get("x25519_fingerprint"));
        assert_eq!(id.recipient().to_string(), v.get("x25519_public_text"));
        assert_eq!(
            *encode_key(X25519_SECRET_PREFIX, &sk),
            v.get("x25519_secret_text")
        );
        let context = EncryptionContext::from_pairs([("app", "backup")]).unwrap();
        let bound = Header::bound_section_for(Suite::XChaCha20Poly1305, &context);
        assert_eq!(bound, unhex(v.get("x25519_bound")));
        let salt: [u8; 24] = unhex(v.get("salt")).try_into().unwrap();
        let ctx = WrapContext {
            suite: Suite::XChaCha20Poly1305,
            context: &context,
            bound: &bound,
            salt: &salt,
            name: v.get("name"),
        };
        assert_eq!(
            wrap_aad(WRAP_LABEL, id.fingerprint(), ctx).unwrap(),
            unhex(v.get("x25519_aad"))
        );
        let esk: [u8; 32] = unhex(v.get("x25519_ephemeral_secret")).try_into().unwrap();
        let esk_secret = StaticSecret::from(esk);
        let epk = PublicKey::from(&esk_secret);
        assert_eq!(
            epk.as_bytes().to_vec(),
            unhex(v.get("x25519_ephemeral_public"))
        );
        let shared = esk_secret.diffie_hellman(&id.recipient().public);
        assert_eq!(shared.as_bytes().to_vec(), unhex(v.get("x25519_shared")));
        let wk = wrap_key_bytes(shared.as_bytes(), &epk, &id.recipient().public).unwrap();
        assert_eq!(wk.to_vec(), unhex(v.get("x25519_wrap_key")));
        let data_key = DataKey::from_slice(&unhex(v.get("data_key"))).unwrap();
        let record = id
            .recipient()
            .seal_with_ephemeral(&data_key, ctx, &esk)
            .unwrap();
        assert_eq!(record.wrapped(), unhex(v.get("x25519_wrapped")));
        assert_eq!(record.key_id(), v.get("x25519_fingerprint"));
        let opened = id.unwrap_unverified(&record, ctx).await.unwrap();
        assert_eq!(opened.expose_secret(), data_key.expose_secret());
        // Bound to the name and the salt: either changed, it does not unwrap.
        let other_salt = [0xa1u8; 24];
        for moved in [
            WrapContext {
                name: "backups/other.tar",
                ..ctx
            },
            WrapContext { name: "", ..ctx },
            WrapContext {
                salt: &other_salt,
                ..ctx
            },
        ] {
            assert!(matches!(
                id.unwrap_unverified(&record, moved).await,
                Err(Error::UnwrapFailed { .. })
            ));
        }
    }
}
