#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
//! Local key files, X25519 recipients, multi-wrapping, bounded unwrap
//! attempts, re-wrapping, record binding and the blocking API. No
//! server needed.

use crate::support;

use std::sync::Arc;

use sealstream_format::{open_slice, seal_to_vec};
use sealstream_kms::{
    BodyPrefix, DataKey, EncryptionContext, Error, Header, KeyProvider, KeyRecord, Keyring,
    LocalKeyProvider, Overwrite, Salt, Suite, WrapContext, X25519Identity, X25519Recipient,
    blocking,
};
use support::{CountingTestDoubleProvider, TempDir, prefix_of, seal_with, with_prefix};

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

/// The object with its header replaced (a rewrap writes this).
fn with_header(object: &[u8], old: &Header, new: &Header) -> Vec<u8> {
    let mut out = new.encode();
    out.extend_from_slice(&object[old.encoded_len()..]);
    out
}

fn ring(providers: Vec<Arc<dyn KeyProvider>>) -> Keyring {
    Keyring::new(providers).unwrap()
}

#[cfg(unix)]
fn mode_of(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn set_mode(p: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn local_key_file_round_trip_and_format() {
    let dir = TempDir::new("local");
    let path = dir.join("k.key");
    let made = LocalKeyProvider::generate(&path, Overwrite::Never).unwrap();
    #[cfg(unix)]
    assert_eq!(mode_of(&path), 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "sealstream-local-key v1");
    assert_eq!(lines[1], format!("id {}", made.key_id()));
    assert_eq!(lines[2].len(), 4 + 64);
    assert!(made.key_id().len() == 16 && made.key_id().bytes().all(|b| b.is_ascii_hexdigit()));
    // Nothing but the three lines and comments; no temporary file left.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    let loaded = LocalKeyProvider::from_file(&path).unwrap();
    assert_eq!(loaded.key_id(), made.key_id());
    let kr = ring(vec![Arc::new(made)]);
    let sealed = kr
        .seal_key(Suite::Aes256Gcm, ctx(&[("path", "a/b")]), "")
        .await
        .unwrap();
    let rec = &sealed.header.records()[0];
    assert_eq!(rec.provider(), "local");
    assert_eq!(rec.key_id(), loaded.key_id());
    assert_eq!(rec.wrapped().len(), 61);
    assert_eq!(rec.wrapped()[0], 1);
    let (sealed, object) = seal_with(sealed, b"payload");

    let opener = ring(vec![Arc::new(loaded)]);
    let prefix = prefix_of(&object, &sealed.header);
    let key = opener
        .open_key(&sealed.header, &prefix, None)
        .await
        .unwrap();
    assert_eq!(key.expose_secret(), sealed.key.expose_secret());
    assert_eq!(open_slice(&object, &key).unwrap().1, b"payload");
}

#[test]
fn local_key_file_is_never_overwritten_without_asking() {
    let dir = TempDir::new("noclobber");
    let path = dir.join("k.key");
    let first = LocalKeyProvider::generate(&path, Overwrite::Never).unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = LocalKeyProvider::generate(&path, Overwrite::Never).unwrap_err();
    assert!(matches!(err, Error::KeyFile { .. }), "{err}");
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let second = LocalKeyProvider::generate(&path, Overwrite::DangerReplaceExisting).unwrap();
    assert_ne!(first.key_id(), second.key_id());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    #[cfg(unix)]
    assert_eq!(mode_of(&path), 0o600);
}

#[cfg(unix)]
#[test]
fn key_files_open_to_group_or_others_are_refused() {
    let dir = TempDir::new("perms");
    let local = dir.join("k.key");
    LocalKeyProvider::generate(&local, Overwrite::Never).unwrap();
    let secret = dir.join("id.secret");
    X25519Identity::generate(&secret, Some(&dir.join("id.pub")), Overwrite::Never).unwrap();
    assert_eq!(mode_of(&secret), 0o600);
    assert_eq!(mode_of(&dir.join("id.pub")), 0o644);
    for mode in [0o640, 0o604, 0o620, 0o602, 0o644, 0o660, 0o666] {
        set_mode(&local, mode);
        set_mode(&secret, mode);
        for err in [
            LocalKeyProvider::from_file(&local).unwrap_err(),
            X25519Identity::from_file(&secret).unwrap_err(),
        ] {
            let msg = err.to_string();
            assert!(msg.contains("chmod 600"), "{msg}");
            assert!(msg.contains(&format!("{mode:04o}")), "{msg}");
        }
    }
    set_mode(&local, 0o400);
    set_mode(&secret, 0o400);
    LocalKeyProvider::from_file(&local).unwrap();
    X25519Identity::from_file(&secret).unwrap();
    // A public key file may be world-readable.
    X25519Recipient::from_file(dir.join("id.pub")).unwrap();
}

#[cfg(unix)]
#[test]
fn malformed_local_key_files_are_refused() {
    let dir = TempDir::new("badfile");
    let path = dir.join("k.key");
    LocalKeyProvider::generate(&path, Overwrite::Never).unwrap();
    let good = std::fs::read_to_string(&path).unwrap();
    let key_line = good
        .lines()
        .find(|l| l.starts_with("key "))
        .unwrap()
        .to_owned();
    let id_line = good
        .lines()
        .find(|l| l.starts_with("id "))
        .unwrap()
        .to_owned();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        set_mode(&p, 0o600);
        p
    };
    // Comments, blank lines and CRLF are fine.
    let crlf = format!("# c\r\n\r\nsealstream-local-key v1\r\n{id_line}\r\n{key_line}\r\n");
    LocalKeyProvider::from_file(write("crlf", &crlf)).unwrap();
    let flipped = {
        let mut k = key_line.clone();
        let last = k.pop().unwrap();
        k.push(if last == '0' { '1' } else { '0' });
        k
    };
    let cases = [
        (
            "noversion",
            format!("{id_line}\n{key_line}\n"),
            "first line",
        ),
        (
            "v2",
            format!("sealstream-local-key v2\n{id_line}\n{key_line}\n"),
            "first line",
        ),
        (
            "noid",
            format!("sealstream-local-key v1\n{key_line}\n"),
            "second line",
        ),
        (
            "badid",
            format!("sealstream-local-key v1\nid 0000000000000000\n{key_line}\n"),
            "does not match",
        ),
        (
            "flipped",
            format!("sealstream-local-key v1\n{id_line}\n{flipped}\n"),
            "does not match",
        ),
        (
            "upper",
            format!(
                "sealstream-local-key v1\n{id_line}\n{}\n",
                key_line.to_uppercase().replacen("KEY", "key", 1)
            ),
            "64 lowercase hex",
        ),
        (
            "short",
            format!(
                "sealstream-local-key v1\n{id_line}\n{}\n",
                &key_line[..key_line.len() - 2]
            ),
            "64 lowercase hex",
        ),
        (
            "extra",
            format!("sealstream-local-key v1\n{id_line}\n{key_line}\nmore\n"),
            "unexpected lines",
        ),
        ("empty", String::new(), "first line"),
    ];
    for (name, text, expect) in cases {
        let err = LocalKeyProvider::from_file(write(name, &text)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(expect), "{name}: {msg}");
        assert!(
            msg.contains(name),
            "{name}: the message names the file: {msg}"
        );
    }
    let big = write("big", &"#".repeat(5000));
    assert!(
        LocalKeyProvider::from_file(big)
            .unwrap_err()
            .to_string()
            .contains("too large")
    );
    assert!(
        LocalKeyProvider::from_file(dir.join("missing"))
            .unwrap_err()
            .to_string()
            .contains("cannot open")
    );
}

#[tokio::test]
async fn local_unwrap_is_bound_to_key_context_and_suite() {
    let a = Arc::new(LocalKeyProvider::from_key_bytes(&[7u8; 32], "test key a").unwrap());
    let b = Arc::new(LocalKeyProvider::from_key_bytes(&[8u8; 32], "test key b").unwrap());
    let kr = ring(vec![a.clone()]);
    let context = ctx(&[("bucket", "x"), ("path", "y")]);
    let sealed = kr
        .seal_key(Suite::Aes256Gcm, context.clone(), "")
        .await
        .unwrap();
    let (sealed, prefix) = with_prefix(sealed);
    let records = sealed.header.records().to_vec();

    // Changed context, changed suite: the wrapping no longer authenticates.
    for header in [
        Header::new(
            Suite::Aes256Gcm,
            ctx(&[("bucket", "x"), ("path", "z")]),
            "",
            records.clone(),
        )
        .unwrap(),
        Header::new(
            Suite::Aes256Gcm,
            EncryptionContext::new(),
            "",
            records.clone(),
        )
        .unwrap(),
        Header::new(
            Suite::XChaCha20Poly1305,
            context.clone(),
            "",
            records.clone(),
        )
        .unwrap(),
    ] {
        let err = kr.open_key(&header, &prefix, None).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::NoMatchingKey { .. }), "{msg}");
        assert!(
            msg.contains("authentication failed") && msg.contains(a.key_id()),
            "{msg}"
        );
    }
    // Another key with the record relabelled to its id: fails, names it.
    let r = &records[0];
    let relabelled = KeyRecord::new("local", b.key_id(), r.wrapped().to_vec()).unwrap();
    let header = Header::new(Suite::Aes256Gcm, context.clone(), "", vec![relabelled]).unwrap();
    let err = ring(vec![b.clone()])
        .open_key(&header, &prefix, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(b.key_id()), "{err}");
    // Without the relabel, b does not even try.
    let err = ring(vec![b.clone()])
        .open_key(&sealed.header, &prefix, None)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("local key {}", a.key_id())),
        "{err}"
    );
    assert!(!err.to_string().contains("tried"), "{err}");
    // Every single-byte change of the wrapped bytes is caught.
    for i in 0..r.wrapped().len() {
        let mut w = r.wrapped().to_vec();
        w[i] ^= 0x01;
        let h = Header::new(
            Suite::Aes256Gcm,
            context.clone(),
            "",
            vec![KeyRecord::new("local", a.key_id(), w).unwrap()],
        )
        .unwrap();
        let msg = kr
            .open_key(&h, &prefix, None)
            .await
            .unwrap_err()
            .to_string();
        let expected = if i == 0 {
            "record version"
        } else {
            "authentication failed"
        };
        assert!(msg.contains(expected), "byte {i}: {msg}");
    }
    for len in [1, 60, 62] {
        let h = Header::new(
            Suite::Aes256Gcm,
            context.clone(),
            "",
            vec![KeyRecord::new("local", a.key_id(), vec![1; len]).unwrap()],
        )
        .unwrap();
        let msg = kr
            .open_key(&h, &prefix, None)
            .await
            .unwrap_err()
            .to_string();
        assert!(msg.contains("malformed local key record"), "{len}: {msg}");
    }
}

#[tokio::test]
async fn x25519_public_key_seals_only_secret_key_opens() {
    let dir = TempDir::new("x25519");
    let secret = dir.join("id.secret");
    let public = dir.join("id.pub");
    let identity = X25519Identity::generate(&secret, Some(&public), Overwrite::Never).unwrap();
    let pub_text = std::fs::read_to_string(&public).unwrap();
    let line = pub_text.lines().find(|l| !l.starts_with('#')).unwrap();
    assert!(
        line.starts_with("sealstream-x25519-pub1:") && line.len() == 23 + 48,
        "{line}"
    );
    let sec_text = std::fs::read_to_string(&secret).unwrap();
    assert!(sec_text.contains(&format!("# public key: {line}")));
    assert!(
        sec_text
            .lines()
            .any(|l| l.starts_with("sealstream-x25519-secret1:") && l.len() == 26 + 48)
    );

    let recipient = X25519Recipient::from_file(&public).unwrap();
    assert_eq!(recipient.to_string(), line);
    assert_eq!(recipient.fingerprint(), identity.fingerprint());
    let parsed: X25519Recipient = line.parse().unwrap();
    assert_eq!(parsed.to_bytes(), identity.recipient().to_bytes());

    // The sealing host holds only the public key.
    let sealer = ring(vec![Arc::new(recipient)]);
    let sealed = sealer
        .seal_key(Suite::XChaCha20Poly1305, ctx(&[("k", "v")]), "")
        .await
        .unwrap();
    let (sealed, object) = seal_with(sealed, b"for the key holder");
    let prefix = prefix_of(&object, &sealed.header);
    let rec = &sealed.header.records()[0];
    assert_eq!(
        (rec.provider(), rec.key_id()),
        ("x25519", identity.fingerprint())
    );
    assert_eq!(rec.wrapped().len(), 81);
    let err = sealer
        .open_key(&sealed.header, &prefix, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoMatchingKey { .. }), "{err}");

    let loaded = X25519Identity::from_file(&secret).unwrap();
    let opener = ring(vec![Arc::new(loaded)]);
    let key = opener
        .open_key(&sealed.header, &prefix, None)
        .await
        .unwrap();
    assert_eq!(open_slice(&object, &key).unwrap().1, b"for the key holder");

    // Bound to context and suite.
    let moved = Header::new(
        Suite::XChaCha20Poly1305,
        ctx(&[("k", "w")]),
        "",
        sealed.header.records().to_vec(),
    )
    .unwrap();
    assert!(
        opener
            .open_key(&moved, &prefix, None)
            .await
            .unwrap_err()
            .to_string()
            .contains("authentication failed")
    );
    let moved = Header::new(
        Suite::Aes256Gcm,
        ctx(&[("k", "v")]),
        "",
        sealed.header.records().to_vec(),
    )
    .unwrap();
    assert!(opener.open_key(&moved, &prefix, None).await.is_err());

    // Another identity cannot open it even when the record is relabelled.
    let other = X25519Identity::from_secret_bytes(&[9u8; 32], "test");
    let relabelled = KeyRecord::new("x25519", other.fingerprint(), rec.wrapped().to_vec()).unwrap();
    let h = Header::new(
        Suite::XChaCha20Poly1305,
        ctx(&[("k", "v")]),
        "",
        vec![relabelled],
    )
    .unwrap();
    assert!(
        ring(vec![Arc::new(other)])
            .open_key(&h, &prefix, None)
            .await
            .is_err()
    );

    // Tampering anywhere in the record fails.
    for i in 0..rec.wrapped().len() {
        let mut w = rec.wrapped().to_vec();
        w[i] ^= 0x80;
        let h = Header::new(
            Suite::XChaCha20Poly1305,
            ctx(&[("k", "v")]),
            "",
            vec![KeyRecord::new("x25519", identity.fingerprint(), w).unwrap()],
        )
        .unwrap();
        assert!(
            opener.open_key(&h, &prefix, None).await.is_err(),
            "byte {i}"
        );
    }
    // A low-order ephemeral key is refused.
    let mut w = vec![1u8];
    w.extend_from_slice(&[0u8; 32]);
    w.extend_from_slice(&[0u8; 48]);
    let h = Header::new(
        Suite::XChaCha20Poly1305,
        ctx(&[("k", "v")]),
        "",
        vec![KeyRecord::new("x25519", identity.fingerprint(), w).unwrap()],
    )
    .unwrap();
    assert!(
        opener
            .open_key(&h, &prefix, None)
            .await
            .unwrap_err()
            .to_string()
            .contains("low-order")
    );
}

#[test]
fn x25519_key_text_is_checked() {
    let id = X25519Identity::from_secret_bytes(&[3u8; 32], "test");
    let text = id.recipient().to_string();
    assert!(X25519Recipient::parse(&text).is_ok());
    assert!(X25519Recipient::parse(&format!("  {text}\n")).is_ok());
    // One changed character: the checksum catches it.
    let mut chars: Vec<char> = text.chars().collect();
    let i = 30;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let typo: String = chars.into_iter().collect();
    assert!(
        X25519Recipient::parse(&typo)
            .unwrap_err()
            .to_string()
            .contains("checksum")
    );
    assert!(X25519Recipient::parse(&text[..text.len() - 1]).is_err());
    assert!(X25519Recipient::parse(&format!("{text}A")).is_err());
    assert!(
        X25519Recipient::parse(&text.replace("pub1", "pub2"))
            .unwrap_err()
            .to_string()
            .contains("must start with")
    );
    let secret_like = text.replace("sealstream-x25519-pub1:", "sealstream-x25519-secret1:");
    assert!(X25519Recipient::parse(&secret_like).is_err());
}

#[tokio::test]
async fn multi_wrap_opens_with_any_one_provider_alone() {
    let local = Arc::new(LocalKeyProvider::from_key_bytes(&[1u8; 32], "test").unwrap());
    let identity = Arc::new(X25519Identity::from_secret_bytes(&[2u8; 32], "test"));
    let kr = ring(vec![local.clone(), Arc::new(identity.recipient().clone())]);
    let sealed = kr
        .seal_key(Suite::Aes256Gcm, ctx(&[("a", "b")]), "")
        .await
        .unwrap();
    assert_eq!(sealed.header.records().len(), 2);
    let (sealed, object) = seal_with(sealed, b"two readers");
    let prefix = prefix_of(&object, &sealed.header);
    for p in [local as Arc<dyn KeyProvider>, identity] {
        let key = ring(vec![p])
            .open_key(&sealed.header, &prefix, None)
            .await
            .unwrap();
        assert_eq!(open_slice(&object, &key).unwrap().1, b"two readers");
    }
}

/// A hostile header with 32 records (the maximum) that all name the
/// configured key: the keyring stops after `max_attempts` unwrap calls.
#[tokio::test]
async fn hostile_header_causes_at_most_max_attempts_unwraps() {
    let local = Arc::new(LocalKeyProvider::from_key_bytes(&[5u8; 32], "test").unwrap());
    let context = ctx(&[("x", "y")]);
    let junk = |id: &str| KeyRecord::new("local", id, vec![1u8; 61]).unwrap();
    // No junk record unwraps, so the body prefix is never reached.
    let prefix = BodyPrefix::from_bytes(&[0u8; 56]);
    let header = Header::new(
        Suite::Aes256Gcm,
        context.clone(),
        "",
        (0..32).map(|_| junk(local.key_id())).collect(),
    )
    .unwrap();
    for (limit, expected) in [(None, 4), (Some(1), 1), (Some(2), 2), (Some(100), 32)] {
        let counting = CountingTestDoubleProvider::new(local.clone());
        let mut kr = ring(vec![counting.clone()]);
        if let Some(n) = limit {
            kr = kr.with_max_attempts(n);
        }
        let err = kr.open_key(&header, &prefix, None).await.unwrap_err();
        assert_eq!(counting.unwrap_calls(), expected, "{limit:?}: {err}");
        if expected < 32 {
            assert!(err.to_string().contains("stopped after"), "{err}");
        }
    }
    // Two providers that both accept: still the keyring's limit in total.
    let c1 = CountingTestDoubleProvider::new(local.clone());
    let c2 = CountingTestDoubleProvider::new(local.clone());
    let kr = ring(vec![c1.clone(), c2.clone()]);
    kr.open_key(&header, &prefix, None).await.unwrap_err();
    assert_eq!(c1.unwrap_calls() + c2.unwrap_calls(), 4);

    // Records of other providers and other keys are never tried.
    let mut records: Vec<KeyRecord> = (0..10).map(|i| junk(&format!("{i:016x}"))).collect();
    records.extend(
        (0..10).map(|i| KeyRecord::new("x25519", format!("{i:016x}"), vec![1u8; 81]).unwrap()),
    );
    records.extend((0..10).map(|i| {
        KeyRecord::new(
            "aws-kms",
            format!("arn:aws:kms:us-east-1:123456789012:key/{i}"),
            vec![1u8; 100],
        )
        .unwrap()
    }));
    records.extend(
        (0..2).map(|i| KeyRecord::new("future-provider", format!("{i}"), vec![1u8; 10]).unwrap()),
    );
    let header = Header::new(Suite::Aes256Gcm, context.clone(), "", records.clone()).unwrap();
    let counting = CountingTestDoubleProvider::new(local.clone());
    let err = ring(vec![counting.clone()])
        .open_key(&header, &prefix, None)
        .await
        .unwrap_err();
    assert_eq!(counting.unwrap_calls(), 0);
    assert!(matches!(err, Error::NoMatchingKey { .. }));

    // A good record behind them is found with one call.
    let good = ring(vec![local.clone()])
        .seal_key(Suite::Aes256Gcm, context.clone(), "")
        .await
        .unwrap();
    let (good, prefix) = with_prefix(good);
    records.truncate(31);
    records.push(good.header.records()[0].clone());
    let header = Header::new(Suite::Aes256Gcm, context, "", records).unwrap();
    let counting = CountingTestDoubleProvider::new(local);
    let key = ring(vec![counting.clone()])
        .open_key(&header, &prefix, None)
        .await
        .unwrap();
    assert_eq!(key.expose_secret(), good.key.expose_secret());
    assert_eq!(counting.unwrap_calls(), 1);
}

/// A record that unwraps to a key that does not match the body is skipped
/// by `open_key` (commitment check; issue 10 item 7: the only open there
/// is), counts as an attempt, and is never re-wrapped.
#[tokio::test]
async fn verified_open_skips_a_planted_key() {
    let identity = Arc::new(X25519Identity::from_secret_bytes(&[4u8; 32], "test"));
    let context = ctx(&[("p", "q")]);
    let kr = ring(vec![identity.clone()]);
    let sealed = kr
        .seal_key(Suite::Aes256Gcm, context.clone(), "")
        .await
        .unwrap();
    let (sealed, object) = seal_with(sealed, b"real");
    let prefix = prefix_of(&object, &sealed.header);
    // Anyone holding the public key can wrap another key for it, bound to
    // this very object (its bound section, salt and name are public):
    // plant one first.
    let planted_key = DataKey::generate().unwrap();
    let planted = identity
        .recipient()
        .wrap(
            &planted_key,
            WrapContext {
                suite: Suite::Aes256Gcm,
                context: &context,
                bound: sealed.header.bound_section(),
                salt: &prefix.salt,
                name: sealed.header.name(),
            },
        )
        .await
        .unwrap();
    let records = vec![planted.clone(), sealed.header.records()[0].clone()];
    let header = Header::new(Suite::Aes256Gcm, context.clone(), "", records).unwrap();
    let key = kr.open_key(&header, &prefix, None).await.unwrap();
    assert_eq!(key.expose_secret(), sealed.key.expose_secret());
    assert_eq!(open_slice(&object, &key).unwrap().1, b"real");
    // The planted record counts as an attempt: with a limit of one, the
    // genuine record behind it is not reached.
    let err = kr
        .clone()
        .with_max_attempts(1)
        .open_key(&header, &prefix, None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("stopped after 1 attempts"),
        "{err}"
    );
    // Rewrap re-wraps the genuine key, not the planted one.
    let rewrapped = kr.rewrap(&header, &prefix, &kr, None).await.unwrap();
    let key = kr.open_key(&rewrapped, &prefix, None).await.unwrap();
    assert_eq!(key.expose_secret(), sealed.key.expose_secret());
    assert_eq!(rewrapped.records().len(), 1);
    // Only the planted record: verified open and rewrap refuse.
    let only = sealed.header.with_records(vec![planted]).unwrap();
    let err = kr.open_key(&only, &prefix, None).await.unwrap_err();
    assert!(err.to_string().contains("does not open this body"), "{err}");
    assert!(kr.rewrap(&only, &prefix, &kr, None).await.is_err());
}

#[tokio::test]
async fn rewrap_adds_new_key_and_drops_removed_one() {
    let old_local = Arc::new(LocalKeyProvider::from_key_bytes(&[10u8; 32], "old").unwrap());
    let identity = Arc::new(X25519Identity::from_secret_bytes(&[11u8; 32], "test"));
    let new_local = Arc::new(LocalKeyProvider::from_key_bytes(&[12u8; 32], "new").unwrap());
    let old_ring = ring(vec![
        old_local.clone(),
        Arc::new(identity.recipient().clone()),
    ]);
    let sealed = old_ring
        .seal_key(Suite::XChaCha20Poly1305, ctx(&[("o", "1")]), "")
        .await
        .unwrap();
    let plaintext = vec![0x5au8; 40_000];
    let (sealed, object) = seal_with(sealed, &plaintext);
    let prefix = prefix_of(&object, &sealed.header);

    // Re-wrap for the new local key and the recipient; the old local key
    // is removed.
    let new_ring = ring(vec![
        new_local.clone(),
        Arc::new(identity.recipient().clone()),
    ]);
    let opener = ring(vec![old_local.clone()]);
    let new_header = opener
        .rewrap(&sealed.header, &prefix, &new_ring, None)
        .await
        .unwrap();
    assert_eq!(new_header.bound_section(), sealed.header.bound_section());
    let rewrapped = with_header(&object, &sealed.header, &new_header);

    let (h, _) = Header::read_from(&mut &rewrapped[..]).unwrap();
    for p in [new_local as Arc<dyn KeyProvider>, identity] {
        let key = ring(vec![p]).open_key(&h, &prefix, None).await.unwrap();
        assert_eq!(open_slice(&rewrapped, &key).unwrap().1, plaintext);
    }
    let err = ring(vec![old_local.clone()])
        .open_key(&h, &prefix, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoMatchingKey { .. }), "{err}");
    assert_eq!(h.records().len(), 2);
}

#[test]
fn blocking_keyring_without_a_runtime() {
    let local = Arc::new(LocalKeyProvider::from_key_bytes(&[30u8; 32], "t").unwrap());
    let identity = Arc::new(X25519Identity::from_secret_bytes(&[31u8; 32], "t"));
    let kr = blocking::Keyring::new(ring(vec![
        local.clone(),
        Arc::new(identity.recipient().clone()),
    ]))
    .unwrap();
    let sealed = kr
        .seal_key(Suite::Aes256Gcm, ctx(&[("b", "1")]), "")
        .unwrap();
    let (sealed, object) = seal_with(sealed, b"sync");
    let prefix = prefix_of(&object, &sealed.header);
    let key = kr.open_key(&sealed.header, &prefix, None).unwrap();
    assert_eq!(open_slice(&object, &key).unwrap().1, b"sync");
    let new = kr
        .rewrap(&sealed.header, &prefix, &ring(vec![identity.clone()]), None)
        .unwrap();
    let id_only = blocking::Keyring::new(ring(vec![identity])).unwrap();
    let key = id_only.open_key(&new, &prefix, None).unwrap();
    assert_eq!(key.expose_secret(), sealed.key.expose_secret());
}

#[tokio::test]
async fn blocking_keyring_refuses_inside_a_runtime() {
    let local = Arc::new(LocalKeyProvider::from_key_bytes(&[32u8; 32], "t").unwrap());
    let kr =
        tokio::task::spawn_blocking(move || blocking::Keyring::new(ring(vec![local])).unwrap())
            .await
            .unwrap();
    let err = kr
        .seal_key(Suite::Aes256Gcm, EncryptionContext::new(), "")
        .unwrap_err();
    assert!(err.to_string().contains("inside an async runtime"), "{err}");
    // Dropping a runtime inside another panics; drop it off the runtime.
    tokio::task::spawn_blocking(move || drop(kr)).await.unwrap();
}

/// The committed vectors (computed with pyca/cryptography) open through
/// the public API, from key files written as docs/FORMAT.md describes.
#[tokio::test]
async fn vector_records_open_from_documented_key_files() {
    let text = include_str!("../vectors/records.txt");
    let v: std::collections::HashMap<&str, &str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .collect();
    let unhex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let dir = TempDir::new("vectors");
    let context = ctx(&[("app", "backup")]);
    let data_key = unhex(v["data_key"]);

    let key_file = dir.join("vector.key");
    std::fs::write(
        &key_file,
        format!(
            "# vector\nsealstream-local-key v1\nid {}\nkey {}\n",
            v["local_key_id"], v["local_key"]
        ),
    )
    .unwrap();
    #[cfg(unix)]
    set_mode(&key_file, 0o600);
    let local = LocalKeyProvider::from_file(&key_file).unwrap();
    let salt: [u8; 24] = unhex(v["salt"]).try_into().unwrap();
    let name = v["name"];
    // The vector records are bound to this salt and name: a body sealed
    // under them (a known-answer salt, never reused outside this test).
    let body = |header: &Header| {
        let key = DataKey::from_slice(&data_key).unwrap();
        let object = seal_to_vec(header, &key, Salt::danger_from_bytes(salt), b"v").unwrap();
        prefix_of(&object, header)
    };
    let rec = KeyRecord::new("local", v["local_key_id"], unhex(v["local_wrapped"])).unwrap();
    let header = Header::new(Suite::Aes256Gcm, context.clone(), name, vec![rec]).unwrap();
    let prefix = body(&header);
    let key = ring(vec![Arc::new(local)])
        .open_key(&header, &prefix, Some(name))
        .await
        .unwrap();
    assert_eq!(key.expose_secret().to_vec(), data_key);

    let secret_file = dir.join("vector.secret");
    std::fs::write(&secret_file, format!("{}\n", v["x25519_secret_text"])).unwrap();
    #[cfg(unix)]
    set_mode(&secret_file, 0o600);
    let identity = X25519Identity::from_file(&secret_file).unwrap();
    assert_eq!(identity.recipient().to_string(), v["x25519_public_text"]);
    let rec = KeyRecord::new(
        "x25519",
        v["x25519_fingerprint"],
        unhex(v["x25519_wrapped"]),
    )
    .unwrap();
    let header = Header::new(Suite::XChaCha20Poly1305, context, name, vec![rec]).unwrap();
    let prefix = body(&header);
    let key = ring(vec![Arc::new(identity)])
        .open_key(&header, &prefix, Some(name))
        .await
        .unwrap();
    assert_eq!(key.expose_secret().to_vec(), data_key);
}

/// Records are bound to the body's salt and the object's name (issue 10,
/// items 4 and 5): moved to a body with another salt, or to a header with
/// another name (or none), a record does not unwrap; the expected name is
/// compared first; a rewrap can bind to a new name.
#[tokio::test]
async fn records_are_bound_to_salt_and_name() {
    let local = Arc::new(LocalKeyProvider::from_key_bytes(&[40u8; 32], "t").unwrap());
    let identity = Arc::new(X25519Identity::from_secret_bytes(&[41u8; 32], "t"));
    for p in [local as Arc<dyn KeyProvider>, identity] {
        let kr = ring(vec![p.clone()]);
        let context = ctx(&[("app", "x")]);
        let a = kr
            .seal_key(Suite::Aes256Gcm, context.clone(), "dir/a")
            .await
            .unwrap();
        let (a, object_a) = seal_with(a, b"a");
        let prefix_a = prefix_of(&object_a, &a.header);
        let b = kr
            .seal_key(Suite::Aes256Gcm, context.clone(), "dir/a")
            .await
            .unwrap();
        let (_b, object_b) = seal_with(b, b"b");
        let prefix_b = prefix_of(&object_b, &a.header);
        let what = p.provider_id();
        // a's header in front of b's body: same name and context, other salt.
        let err = kr.open_key(&a.header, &prefix_b, None).await.unwrap_err();
        assert!(
            err.to_string().contains("authentication failed"),
            "{what}: {err}"
        );
        // a's records under another name, or no name.
        for name in ["dir/b", ""] {
            let renamed = a
                .header
                .with_name_and_records(name, a.header.records().to_vec())
                .unwrap();
            let err = kr.open_key(&renamed, &prefix_a, None).await.unwrap_err();
            assert!(
                err.to_string().contains("authentication failed"),
                "{what} {name:?}: {err}"
            );
        }
        // The expected name is compared before any unwrap, naming both.
        let counting = CountingTestDoubleProvider::new(p.clone());
        let err = ring(vec![counting.clone()])
            .open_key(&a.header, &prefix_a, Some("dir/other"))
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("dir/other") && msg.contains("dir/a"), "{msg}");
        assert_eq!(counting.unwrap_calls(), 0);
        // An unbound object is refused when a name is expected.
        let unbound = kr
            .seal_key(Suite::Aes256Gcm, context.clone(), "")
            .await
            .unwrap();
        let (unbound, object_u) = seal_with(unbound, b"u");
        let prefix_u = prefix_of(&object_u, &unbound.header);
        assert!(
            kr.open_key(&unbound.header, &prefix_u, Some("dir/a"))
                .await
                .is_err()
        );
        kr.open_key(&unbound.header, &prefix_u, None).await.unwrap();
        // Rewrap to a new name: opens under it only.
        let moved = kr
            .rewrap(&a.header, &prefix_a, &kr, Some("dir/moved"))
            .await
            .unwrap();
        assert_eq!(moved.name(), "dir/moved");
        let key = kr
            .open_key(&moved, &prefix_a, Some("dir/moved"))
            .await
            .unwrap();
        assert_eq!(key.expose_secret(), a.key.expose_secret());
        assert!(kr.open_key(&moved, &prefix_a, Some("dir/a")).await.is_err());
        let kept = kr.rewrap(&a.header, &prefix_a, &kr, None).await.unwrap();
        assert_eq!(kept.name(), "dir/a");
        kr.open_key(&kept, &prefix_a, Some("dir/a")).await.unwrap();
    }
}

/// A record whose `wrapped` has the wrong length is rejected on its own;
/// the genuine record after it still opens the object (issue 10, item 19).
#[tokio::test]
async fn a_wrong_length_record_rejects_only_that_record() {
    let local = Arc::new(LocalKeyProvider::from_key_bytes(&[42u8; 32], "t").unwrap());
    let identity = Arc::new(X25519Identity::from_secret_bytes(&[43u8; 32], "t"));
    let kr = ring(vec![local.clone(), identity.clone()]);
    let sealed = kr
        .seal_key(Suite::XChaCha20Poly1305, ctx(&[("a", "b")]), "n")
        .await
        .unwrap();
    let (sealed, object) = seal_with(sealed, b"both");
    let prefix = prefix_of(&object, &sealed.header);
    let genuine = sealed.header.records().to_vec();
    for (bad_provider, bad_id, len) in [
        ("local", local.key_id(), 60),
        ("local", local.key_id(), 62),
        ("x25519", identity.fingerprint(), 80),
        ("x25519", identity.fingerprint(), 82),
    ] {
        let mut w = genuine
            .iter()
            .find(|r| r.provider() == bad_provider)
            .unwrap()
            .wrapped()
            .to_vec();
        w.resize(len, 0);
        let mut records = vec![KeyRecord::new(bad_provider, bad_id, w).unwrap()];
        records.extend(genuine.iter().cloned());
        let header = sealed.header.with_records(records).unwrap();
        let key = kr.open_key(&header, &prefix, Some("n")).await.unwrap();
        assert_eq!(key.expose_secret(), sealed.key.expose_secret());
        // Alone, it is reported as malformed.
        let alone = sealed
            .header
            .with_records(vec![header.records()[0].clone()])
            .unwrap();
        let msg = kr
            .open_key(&alone, &prefix, None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("malformed") && msg.contains("bytes"),
            "{len}: {msg}"
        );
    }
}

/// A key file path that is a FIFO, a directory or an oversized file is
/// refused promptly, before anything is read (issue 10, item 13); a FIFO
/// used to block `open(2)` forever.
#[cfg(unix)]
#[test]
fn key_files_that_are_not_small_regular_files_are_refused_promptly() {
    let dir = TempDir::new("fifo");
    let fifo = dir.join("k.fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    set_mode(&fifo, 0o600);
    let (tx, rx) = std::sync::mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        let results = [
            LocalKeyProvider::from_file(&path).map(drop),
            X25519Identity::from_file(&path).map(drop),
            X25519Recipient::from_file(&path).map(drop),
        ];
        let _ = tx.send(results.map(|r| r.unwrap_err().to_string()));
    });
    let msgs = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("reading a FIFO key file must not block");
    for msg in msgs {
        assert!(msg.contains("not a regular file (it is a FIFO)"), "{msg}");
    }
    let msg = LocalKeyProvider::from_file(dir.path())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("a directory"), "{msg}");
    let msg = X25519Recipient::from_file("/dev/null")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("a device"), "{msg}");
    // Over 4096 bytes: refused before reading, even with a valid key first.
    let big = dir.join("big.secret");
    let id = X25519Identity::generate(&big, None, Overwrite::Never).unwrap();
    let mut text = std::fs::read_to_string(&big).unwrap();
    text.push_str(&format!("#{}\n", "x".repeat(4096)));
    std::fs::write(&big, text).unwrap();
    let msg = X25519Identity::from_file(&big).unwrap_err().to_string();
    assert!(msg.contains("too large") && msg.contains("4096"), "{msg}");
    drop(id);
}

/// A public key file given where a secret key belongs is recognised from
/// its content before the permission check (issue 10, item 15).
#[cfg(unix)]
#[test]
fn a_public_key_given_as_secret_is_named() {
    let dir = TempDir::new("wrongkind");
    let public = dir.join("id.pub");
    X25519Identity::generate(dir.join("id.secret"), Some(&public), Overwrite::Never).unwrap();
    assert_eq!(mode_of(&public), 0o644);
    for err in [
        X25519Identity::from_file(&public).unwrap_err(),
        LocalKeyProvider::from_file(&public).unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(
            msg.contains("this is a public key; pass the secret key file"),
            "{msg}"
        );
        assert!(!msg.contains("chmod"), "{msg}");
    }
}

/// Key-file lines are exact (issue 10, item 19): LF or CRLF line ends,
/// empty lines and `#` lines are comments, and any other white space
/// before or after a line is an error naming the line.
#[cfg(unix)]
#[test]
fn key_file_white_space_is_strict() {
    let dir = TempDir::new("ws");
    let local_path = dir.join("k.key");
    LocalKeyProvider::generate(&local_path, Overwrite::Never).unwrap();
    let secret_path = dir.join("id.secret");
    let public_path = dir.join("id.pub");
    X25519Identity::generate(&secret_path, Some(&public_path), Overwrite::Never).unwrap();
    let content = |p: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let local_lines = content(&local_path);
    let secret_line = content(&secret_path).remove(0);
    let public_line = content(&public_path).remove(0);
    let n = std::cell::Cell::new(0);
    let write = |text: String| {
        n.set(n.get() + 1);
        let p = dir.join(&format!("case{}", n.get()));
        std::fs::write(&p, text).unwrap();
        set_mode(&p, 0o600);
        p
    };
    let local = |ends: &[&str], lead: &str, trail: &str, line: usize| {
        let mut text = String::new();
        for (i, l) in local_lines.iter().enumerate() {
            let (a, b) = if i == line { (lead, trail) } else { ("", "") };
            text.push_str(&format!("{a}{l}{b}{}", ends[i % ends.len()]));
        }
        LocalKeyProvider::from_file(write(text)).map(drop)
    };
    // Accepted: LF, CRLF, mixed, no final line end, comments and empty lines.
    local(&["\n"], "", "", 9).unwrap();
    local(&["\r\n"], "", "", 9).unwrap();
    local(&["\n", "\r\n"], "", "", 9).unwrap();
    LocalKeyProvider::from_file(write(local_lines.join("\n"))).unwrap();
    LocalKeyProvider::from_file(write(format!(
        "\n#  comment\t \n\r\n{}\n\n",
        local_lines.join("\n#\n")
    )))
    .unwrap();
    // Refused: white space around any content line (a CR right before the
    // LF is a CRLF line end, not white space), a lone CR at the end.
    for (lead, trail) in [
        (" ", ""),
        ("", " "),
        ("\t", ""),
        ("", "\t"),
        ("\r", ""),
        ("\u{a0}", ""),
    ] {
        for line in 0..3 {
            let msg = local(&["\n"], lead, trail, line).unwrap_err().to_string();
            assert!(
                msg.contains(&format!("line {}", line + 1)) && msg.contains("white space"),
                "{lead:?} {trail:?} {line}: {msg}"
            );
        }
    }
    let msg = LocalKeyProvider::from_file(write(format!("{}\r", local_lines.join("\n"))))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("line 3"), "{msg}");
    // A line of white space only, and an indented comment, are not comments.
    for extra in [" ", "\t", " # indented"] {
        let msg =
            LocalKeyProvider::from_file(write(format!("{extra}\n{}\n", local_lines.join("\n"))))
                .unwrap_err()
                .to_string();
        assert!(msg.contains("line 1"), "{extra:?}: {msg}");
    }
    // The same rules for X25519 secret and public key files.
    X25519Identity::from_file(write(format!("# c\r\n\r\n{secret_line}\r\n"))).unwrap();
    X25519Identity::from_file(write(secret_line.clone())).unwrap();
    X25519Recipient::from_file(write(format!("{public_line}\r\n"))).unwrap();
    for (lead, trail) in [(" ", ""), ("", " "), ("\t", ""), ("", "\r")] {
        let msg = X25519Identity::from_file(write(format!("#\n{lead}{secret_line}{trail}")))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("line 2") && msg.contains("white space"),
            "{msg}"
        );
        let msg = X25519Recipient::from_file(write(format!("{lead}{public_line}{trail}")))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("line 1") && msg.contains("white space"),
            "{msg}"
        );
    }
}
