#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
//! Local key files, X25519 recipients, multi-wrapping, bounded unwrap
//! attempts, re-wrapping, the data-key cache and the blocking API. No
//! server needed.

mod support;

use std::sync::Arc;
use std::time::Duration;

use sealstream_format::{BODY_PREFIX_LEN, open_slice, seal_to_vec};
use sealstream_kms::{
    BodyPrefix, CachingKeyring, DataKeyCacheConfig, EncryptionContext, Error, Header, KeyProvider,
    KeyRecord, Keyring, LocalKeyProvider, MAX_CACHED_OBJECTS, Overwrite, Suite, X25519Identity,
    X25519Recipient, blocking,
};
use support::{CountingTestDoubleProvider, TempDir};

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

fn prefix_of(object: &[u8], header: &Header) -> BodyPrefix {
    let start = header.encoded_len();
    let bytes: [u8; BODY_PREFIX_LEN] = object[start..start + BODY_PREFIX_LEN].try_into().unwrap();
    BodyPrefix::from_bytes(&bytes)
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
        .seal_key(Suite::Aes256Gcm, ctx(&[("path", "a/b")]))
        .await
        .unwrap();
    assert!(!sealed.reused);
    let rec = &sealed.header.records()[0];
    assert_eq!(rec.provider(), "local");
    assert_eq!(rec.key_id(), loaded.key_id());
    assert_eq!(rec.wrapped().len(), 61);
    assert_eq!(rec.wrapped()[0], 1);
    let object = seal_to_vec(&sealed.header, &sealed.key, b"payload").unwrap();

    let opener = ring(vec![Arc::new(loaded)]);
    let key = opener.open_key(&sealed.header).await.unwrap();
    assert_eq!(key.expose_secret(), sealed.key.expose_secret());
    assert_eq!(open_slice(&object, &key).unwrap().1, b"payload");
    let prefix = prefix_of(&object, &sealed.header);
    let key = opener
        .open_key_verified(&sealed.header, &prefix)
        .await
        .unwrap();
    assert_eq!(key.expose_secret(), sealed.key.expose_secret());
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
        .seal_key(Suite::Aes256Gcm, context.clone())
        .await
        .unwrap();
    let records = sealed.header.records().to_vec();

    // Changed context, changed suite: the wrapping no longer authenticates.
    for header in [
        Header::new(
            Suite::Aes256Gcm,
            ctx(&[("bucket", "x"), ("path", "z")]),
            records.clone(),
        )
        .unwrap(),
        Header::new(Suite::Aes256Gcm, EncryptionContext::new(), records.clone()).unwrap(),
        Header::new(Suite::XChaCha20Poly1305, context.clone(), records.clone()).unwrap(),
    ] {
        let err = kr.open_key(&header).await.unwrap_err();
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
    let header = Header::new(Suite::Aes256Gcm, context.clone(), vec![relabelled]).unwrap();
    let err = ring(vec![b.clone()]).open_key(&header).await.unwrap_err();
    assert!(err.to_string().contains(b.key_id()), "{err}");
    // Without the relabel, b does not even try.
    let err = ring(vec![b.clone()])
        .open_key(&sealed.header)
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
            vec![KeyRecord::new("local", a.key_id(), w).unwrap()],
        )
        .unwrap();
        let msg = kr.open_key(&h).await.unwrap_err().to_string();
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
            vec![KeyRecord::new("local", a.key_id(), vec![1; len]).unwrap()],
        )
        .unwrap();
        let msg = kr.open_key(&h).await.unwrap_err().to_string();
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
        .seal_key(Suite::XChaCha20Poly1305, ctx(&[("k", "v")]))
        .await
        .unwrap();
    let rec = &sealed.header.records()[0];
    assert_eq!(
        (rec.provider(), rec.key_id()),
        ("x25519", identity.fingerprint())
    );
    assert_eq!(rec.wrapped().len(), 81);
    let object = seal_to_vec(&sealed.header, &sealed.key, b"for the key holder").unwrap();
    let err = sealer.open_key(&sealed.header).await.unwrap_err();
    assert!(matches!(err, Error::NoMatchingKey { .. }), "{err}");

    let loaded = X25519Identity::from_file(&secret).unwrap();
    let opener = ring(vec![Arc::new(loaded)]);
    let key = opener.open_key(&sealed.header).await.unwrap();
    assert_eq!(open_slice(&object, &key).unwrap().1, b"for the key holder");

    // Bound to context and suite.
    let moved = Header::new(
        Suite::XChaCha20Poly1305,
        ctx(&[("k", "w")]),
        sealed.header.records().to_vec(),
    )
    .unwrap();
    assert!(
        opener
            .open_key(&moved)
            .await
            .unwrap_err()
            .to_string()
            .contains("authentication failed")
    );
    let moved = Header::new(
        Suite::Aes256Gcm,
        ctx(&[("k", "v")]),
        sealed.header.records().to_vec(),
    )
    .unwrap();
    assert!(opener.open_key(&moved).await.is_err());

    // Another identity cannot open it even when the record is relabelled.
    let other = X25519Identity::from_secret_bytes(&[9u8; 32], "test");
    let relabelled = KeyRecord::new("x25519", other.fingerprint(), rec.wrapped().to_vec()).unwrap();
    let h = Header::new(
        Suite::XChaCha20Poly1305,
        ctx(&[("k", "v")]),
        vec![relabelled],
    )
    .unwrap();
    assert!(ring(vec![Arc::new(other)]).open_key(&h).await.is_err());

    // Tampering anywhere in the record fails.
    for i in 0..rec.wrapped().len() {
        let mut w = rec.wrapped().to_vec();
        w[i] ^= 0x80;
        let h = Header::new(
            Suite::XChaCha20Poly1305,
            ctx(&[("k", "v")]),
            vec![KeyRecord::new("x25519", identity.fingerprint(), w).unwrap()],
        )
        .unwrap();
        assert!(opener.open_key(&h).await.is_err(), "byte {i}");
    }
    // A low-order ephemeral key is refused.
    let mut w = vec![1u8];
    w.extend_from_slice(&[0u8; 32]);
    w.extend_from_slice(&[0u8; 48]);
    let h = Header::new(
        Suite::XChaCha20Poly1305,
        ctx(&[("k", "v")]),
        vec![KeyRecord::new("x25519", identity.fingerprint(), w).unwrap()],
    )
    .unwrap();
    assert!(
        opener
            .open_key(&h)
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
        .seal_key(Suite::Aes256Gcm, ctx(&[("a", "b")]))
        .await
        .unwrap();
    assert_eq!(sealed.header.records().len(), 2);
    let object = seal_to_vec(&sealed.header, &sealed.key, b"two readers").unwrap();
    for p in [local as Arc<dyn KeyProvider>, identity] {
        let key = ring(vec![p]).open_key(&sealed.header).await.unwrap();
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
    let header = Header::new(
        Suite::Aes256Gcm,
        context.clone(),
        (0..32).map(|_| junk(local.key_id())).collect(),
    )
    .unwrap();
    for (limit, expected) in [(None, 4), (Some(1), 1), (Some(2), 2), (Some(100), 32)] {
        let counting = CountingTestDoubleProvider::new(local.clone());
        let mut kr = ring(vec![counting.clone()]);
        if let Some(n) = limit {
            kr = kr.with_max_attempts(n);
        }
        let err = kr.open_key(&header).await.unwrap_err();
        assert_eq!(counting.unwrap_calls(), expected, "{limit:?}: {err}");
        if expected < 32 {
            assert!(err.to_string().contains("stopped after"), "{err}");
        }
    }
    // Two providers that both accept: still the keyring's limit in total.
    let c1 = CountingTestDoubleProvider::new(local.clone());
    let c2 = CountingTestDoubleProvider::new(local.clone());
    let kr = ring(vec![c1.clone(), c2.clone()]);
    kr.open_key(&header).await.unwrap_err();
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
    let header = Header::new(Suite::Aes256Gcm, context.clone(), records.clone()).unwrap();
    let counting = CountingTestDoubleProvider::new(local.clone());
    let err = ring(vec![counting.clone()])
        .open_key(&header)
        .await
        .unwrap_err();
    assert_eq!(counting.unwrap_calls(), 0);
    assert!(matches!(err, Error::NoMatchingKey { .. }));

    // A good record behind them is found with one call.
    let good = ring(vec![local.clone()])
        .seal_key(Suite::Aes256Gcm, context.clone())
        .await
        .unwrap();
    records.truncate(31);
    records.push(good.header.records()[0].clone());
    let header = Header::new(Suite::Aes256Gcm, context, records).unwrap();
    let counting = CountingTestDoubleProvider::new(local);
    let key = ring(vec![counting.clone()])
        .open_key(&header)
        .await
        .unwrap();
    assert_eq!(key.expose_secret(), good.key.expose_secret());
    assert_eq!(counting.unwrap_calls(), 1);
}

/// A record that unwraps to a key that does not match the body is skipped
/// by `open_key_verified` (commitment check), and never re-wrapped.
#[tokio::test]
async fn verified_open_skips_a_planted_key() {
    let identity = Arc::new(X25519Identity::from_secret_bytes(&[4u8; 32], "test"));
    let context = ctx(&[("p", "q")]);
    let kr = ring(vec![identity.clone()]);
    let sealed = kr
        .seal_key(Suite::Aes256Gcm, context.clone())
        .await
        .unwrap();
    let object = seal_to_vec(&sealed.header, &sealed.key, b"real").unwrap();
    // Anyone can seal a different key for a public key: plant one first.
    let planted = kr
        .seal_key(Suite::Aes256Gcm, context.clone())
        .await
        .unwrap();
    let records = vec![
        planted.header.records()[0].clone(),
        sealed.header.records()[0].clone(),
    ];
    let header = Header::new(Suite::Aes256Gcm, context, records).unwrap();
    let prefix = prefix_of(&object, &sealed.header);
    let key = kr.open_key_verified(&header, &prefix).await.unwrap();
    assert_eq!(key.expose_secret(), sealed.key.expose_secret());
    // The unverified open takes the first record that unwraps.
    let key = kr.open_key(&header).await.unwrap();
    assert_eq!(key.expose_secret(), planted.key.expose_secret());
    // Only the planted record: verified open and rewrap refuse.
    let only = sealed
        .header
        .with_records(vec![planted.header.records()[0].clone()])
        .unwrap();
    let err = kr.open_key_verified(&only, &prefix).await.unwrap_err();
    assert!(err.to_string().contains("commitment"), "{err}");
    assert!(kr.rewrap_verified(&only, &prefix, &kr).await.is_err());
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
        .seal_key(Suite::XChaCha20Poly1305, ctx(&[("o", "1")]))
        .await
        .unwrap();
    let plaintext = vec![0x5au8; 40_000];
    let object = seal_to_vec(&sealed.header, &sealed.key, &plaintext).unwrap();
    let prefix = prefix_of(&object, &sealed.header);

    // Re-wrap for the new local key and the recipient; the old local key
    // is removed.
    let new_ring = ring(vec![
        new_local.clone(),
        Arc::new(identity.recipient().clone()),
    ]);
    let opener = ring(vec![old_local.clone()]);
    let new_header = opener
        .rewrap_verified(&sealed.header, &prefix, &new_ring)
        .await
        .unwrap();
    assert_eq!(new_header.bound_section(), sealed.header.bound_section());
    let rewrapped = with_header(&object, &sealed.header, &new_header);

    let (h, _) = Header::read_from(&mut &rewrapped[..]).unwrap();
    for p in [new_local as Arc<dyn KeyProvider>, identity] {
        let key = ring(vec![p]).open_key(&h).await.unwrap();
        assert_eq!(open_slice(&rewrapped, &key).unwrap().1, plaintext);
    }
    let err = ring(vec![old_local.clone()])
        .open_key(&h)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoMatchingKey { .. }), "{err}");
    // The unverified rewrap gives the same records' meaning too.
    let h2 = opener.rewrap(&sealed.header, &new_ring).await.unwrap();
    assert_eq!(h2.records().len(), 2);
}

fn local_counting(byte: u8) -> Arc<CountingTestDoubleProvider> {
    CountingTestDoubleProvider::new(Arc::new(
        LocalKeyProvider::from_key_bytes(&[byte; 32], "cache test").unwrap(),
    ))
}

fn cache(p: &Arc<CountingTestDoubleProvider>, cfg: DataKeyCacheConfig) -> CachingKeyring {
    ring(vec![p.clone()]).with_cache(cfg).unwrap()
}

#[tokio::test]
async fn cache_limit_objects_ends_reuse() {
    let p = local_counting(20);
    let c = cache(
        &p,
        DataKeyCacheConfig {
            max_objects: 3,
            ..Default::default()
        },
    );
    let context = ctx(&[("c", "1")]);
    let mut keys = Vec::new();
    for _ in 0..7 {
        let s = c
            .seal_key(Suite::Aes256Gcm, context.clone(), Some(10))
            .await
            .unwrap();
        assert!(s.reused, "a cached key may protect other objects");
        let object = seal_to_vec(&s.header, &s.key, b"cached").unwrap();
        let opened = c.open_key(&s.header).await.unwrap();
        assert_eq!(open_slice(&object, &opened).unwrap().1, b"cached");
        keys.push(*s.key.expose_secret());
    }
    assert!(keys[0] == keys[1] && keys[1] == keys[2]);
    assert_ne!(keys[2], keys[3]);
    assert!(keys[3] == keys[4] && keys[4] == keys[5]);
    assert_ne!(keys[5], keys[6]);
    assert_eq!(p.generate_calls(), 3);
    assert_eq!(c.generate_calls(), 3);
    assert_eq!(c.saved_generate_calls(), 4);
}

#[tokio::test]
async fn cache_limit_bytes_ends_reuse() {
    let p = local_counting(21);
    let c = cache(
        &p,
        DataKeyCacheConfig {
            max_bytes: 100,
            ..Default::default()
        },
    );
    let context = ctx(&[("c", "2")]);
    let a = c
        .seal_key(Suite::Aes256Gcm, context.clone(), Some(60))
        .await
        .unwrap();
    let b = c
        .seal_key(Suite::Aes256Gcm, context.clone(), Some(40))
        .await
        .unwrap();
    assert_eq!(a.key.expose_secret(), b.key.expose_secret());
    let d = c
        .seal_key(Suite::Aes256Gcm, context.clone(), Some(1))
        .await
        .unwrap();
    assert_ne!(b.key.expose_secret(), d.key.expose_secret());
    assert_eq!((p.generate_calls(), c.saved_generate_calls()), (2, 1));
    // Larger than the whole budget, or of unknown size: a fresh key, not cached.
    let big = c
        .seal_key(Suite::Aes256Gcm, context.clone(), Some(101))
        .await
        .unwrap();
    assert!(!big.reused);
    let unknown = c
        .seal_key(Suite::Aes256Gcm, context.clone(), None)
        .await
        .unwrap();
    assert!(!unknown.reused);
    assert_ne!(big.key.expose_secret(), unknown.key.expose_secret());
    let e = c
        .seal_key(Suite::Aes256Gcm, context, Some(1))
        .await
        .unwrap();
    assert_eq!(d.key.expose_secret(), e.key.expose_secret());
    assert_eq!((p.generate_calls(), c.saved_generate_calls()), (4, 2));
}

#[tokio::test(start_paused = true)]
async fn cache_limit_age_ends_reuse() {
    let p = local_counting(22);
    let c = cache(
        &p,
        DataKeyCacheConfig {
            max_age: Duration::from_secs(10),
            ..Default::default()
        },
    );
    let context = ctx(&[("c", "3")]);
    let a = c
        .seal_key(Suite::Aes256Gcm, context.clone(), Some(1))
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(9)).await;
    let b = c
        .seal_key(Suite::Aes256Gcm, context.clone(), Some(1))
        .await
        .unwrap();
    assert_eq!(a.key.expose_secret(), b.key.expose_secret());
    tokio::time::advance(Duration::from_secs(1)).await;
    let d = c
        .seal_key(Suite::Aes256Gcm, context, Some(1))
        .await
        .unwrap();
    assert_ne!(a.key.expose_secret(), d.key.expose_secret());
    assert_eq!((p.generate_calls(), c.saved_generate_calls()), (2, 1));
}

#[tokio::test]
async fn cache_keys_per_suite_and_context() {
    let p = local_counting(23);
    let c = cache(
        &p,
        DataKeyCacheConfig {
            max_entries: 2,
            ..Default::default()
        },
    );
    let a = c
        .seal_key(Suite::Aes256Gcm, ctx(&[("c", "a")]), Some(1))
        .await
        .unwrap();
    let b = c
        .seal_key(Suite::Aes256Gcm, ctx(&[("c", "b")]), Some(1))
        .await
        .unwrap();
    let x = c
        .seal_key(Suite::XChaCha20Poly1305, ctx(&[("c", "a")]), Some(1))
        .await
        .unwrap();
    assert_ne!(a.key.expose_secret(), b.key.expose_secret());
    assert_ne!(a.key.expose_secret(), x.key.expose_secret());
    assert_eq!(p.generate_calls(), 3);
    // (Aes, a) was the oldest of three entries with room for two: evicted.
    let a2 = c
        .seal_key(Suite::Aes256Gcm, ctx(&[("c", "a")]), Some(1))
        .await
        .unwrap();
    assert_ne!(a.key.expose_secret(), a2.key.expose_secret());
    let x2 = c
        .seal_key(Suite::XChaCha20Poly1305, ctx(&[("c", "a")]), Some(1))
        .await
        .unwrap();
    assert_eq!(x.key.expose_secret(), x2.key.expose_secret());
    c.clear();
    let x3 = c
        .seal_key(Suite::XChaCha20Poly1305, ctx(&[("c", "a")]), Some(1))
        .await
        .unwrap();
    assert_ne!(x.key.expose_secret(), x3.key.expose_secret());
}

#[test]
fn cache_config_is_validated() {
    let kr = || {
        ring(vec![Arc::new(
            LocalKeyProvider::from_key_bytes(&[1; 32], "t").unwrap(),
        )])
    };
    for bad in [
        DataKeyCacheConfig {
            max_objects: 0,
            ..Default::default()
        },
        DataKeyCacheConfig {
            max_objects: MAX_CACHED_OBJECTS + 1,
            ..Default::default()
        },
        DataKeyCacheConfig {
            max_bytes: 0,
            ..Default::default()
        },
        DataKeyCacheConfig {
            max_age: Duration::ZERO,
            ..Default::default()
        },
        DataKeyCacheConfig {
            max_entries: 0,
            ..Default::default()
        },
    ] {
        assert!(matches!(kr().with_cache(bad), Err(Error::Config(_))));
    }
    kr().with_cache(DataKeyCacheConfig {
        max_objects: MAX_CACHED_OBJECTS,
        ..Default::default()
    })
    .unwrap();
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
    let sealed = kr.seal_key(Suite::Aes256Gcm, ctx(&[("b", "1")])).unwrap();
    let object = seal_to_vec(&sealed.header, &sealed.key, b"sync").unwrap();
    let key = kr.open_key(&sealed.header).unwrap();
    assert_eq!(open_slice(&object, &key).unwrap().1, b"sync");
    let prefix = prefix_of(&object, &sealed.header);
    let new = kr
        .rewrap_verified(&sealed.header, &prefix, &ring(vec![identity.clone()]))
        .unwrap();
    let id_only = blocking::Keyring::new(ring(vec![identity])).unwrap();
    let key = id_only.open_key_verified(&new, &prefix).unwrap();
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
        .seal_key(Suite::Aes256Gcm, EncryptionContext::new())
        .unwrap_err();
    assert!(err.to_string().contains("inside an async runtime"), "{err}");
    // Dropping a runtime inside another panics; drop it off the runtime.
    tokio::task::spawn_blocking(move || drop(kr)).await.unwrap();
}

/// The committed vectors (computed with pyca/cryptography) open through
/// the public API, from key files written as docs/FORMAT.md describes.
#[tokio::test]
async fn vector_records_open_from_documented_key_files() {
    let text = include_str!("vectors/records.txt");
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
    let rec = KeyRecord::new("local", v["local_key_id"], unhex(v["local_wrapped"])).unwrap();
    let header = Header::new(Suite::Aes256Gcm, context.clone(), vec![rec]).unwrap();
    let key = ring(vec![Arc::new(local)]).open_key(&header).await.unwrap();
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
    let header = Header::new(Suite::XChaCha20Poly1305, context, vec![rec]).unwrap();
    let key = ring(vec![Arc::new(identity)])
        .open_key(&header)
        .await
        .unwrap();
    assert_eq!(key.expose_secret().to_vec(), data_key);
}
