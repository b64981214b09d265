#![cfg(feature = "aws")]
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]
//! No `Debug` or `Display` of a provider, key, configuration, record,
//! header or error contains key material: everything is formatted with
//! known test keys and the output is searched for those keys in every
//! encoding a leak could take (raw, hex, base64, byte lists, 8-byte
//! fragments).

use crate::support;

use std::sync::Arc;

use base64ct::{Base64, Base64Unpadded, Base64Url, Base64UrlUnpadded, Encoding};
use sealstream_kms::{
    DataKey, EncryptionContext, Error, Header, KeyProvider, KeyRecord, Keyring, KmsConfig,
    KmsProvider, LocalKeyProvider, Overwrite, RetryPolicy, SealKey, Suite, WrapContext,
    X25519Identity, blocking,
};
use support::{
    FaultInjectingKms, TempDir, create_key, kms_endpoint, offline_sdk_config, sdk_config,
    with_prefix,
};

// ASCII, so that a raw leak is visible in a string too.
const LOCAL_KEY: &[u8; 32] = b"Kq7#Zx!w9@Lp$3Vr^Tn&Y5*Bm(Hd)Jf+";
const FILE_KEY: &[u8; 32] = b"fP2%uR8~cW4?gE6|sA1;kD5<hJ3>nM7=";
const X25519_SECRET: &[u8; 32] = b"xV9}bN2{qT6]zL4[wC8'yG3`rF5,tH7.";
const DATA_KEY: &[u8; 32] = b"dZ4!mQ8@pW2#sE6$uR9%iO3^aS7&gK1*";
const GRANT_TOKEN: &str = "KNOWN-TEST-GRANT-TOKEN-5";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every form in which `secret` (or an 8-byte piece of it) could leak.
fn leak_forms(secret: &[u8]) -> Vec<String> {
    let mut forms = vec![
        String::from_utf8_lossy(secret).into_owned(),
        hex(secret),
        hex(secret).to_uppercase(),
        Base64::encode_string(secret),
        Base64Unpadded::encode_string(secret),
        Base64Url::encode_string(secret),
        Base64UrlUnpadded::encode_string(secret),
        format!("{secret:?}"),
        format!("{:?}", secret.to_vec()),
    ];
    for w in secret.windows(8) {
        forms.push(hex(w));
        forms.push(hex(w).to_uppercase());
        forms.push(String::from_utf8_lossy(w).into_owned());
        // A byte-list fragment like "75, 78, 79, 87, 78, 45, 84, 69".
        forms.push(format!("{w:?}").trim_matches(['[', ']']).to_owned());
    }
    forms
}

struct Checker {
    secrets: Vec<(String, Vec<String>)>,
    checked: usize,
}

impl Checker {
    fn new() -> Self {
        let mut c = Checker {
            secrets: Vec::new(),
            checked: 0,
        };
        for (name, s) in [
            ("local key", &LOCAL_KEY[..]),
            ("file key", &FILE_KEY[..]),
            ("x25519 secret", &X25519_SECRET[..]),
            ("data key", &DATA_KEY[..]),
        ] {
            c.secret(name, s);
        }
        c.secrets
            .push(("grant token".into(), vec![GRANT_TOKEN.into()]));
        c
    }

    fn secret(&mut self, name: &str, bytes: &[u8]) {
        self.secrets.push((name.to_owned(), leak_forms(bytes)));
    }

    fn text(&mut self, what: &str, s: &str) {
        self.checked += 1;
        for (name, forms) in &self.secrets {
            for f in forms {
                assert!(
                    !s.contains(f.as_str()),
                    "{what} leaks the {name} as {f:?}:\n{s}"
                );
            }
        }
    }

    fn debug(&mut self, what: &str, v: &dyn std::fmt::Debug) {
        self.text(what, &format!("{v:?}"));
        self.text(what, &format!("{v:#?}"));
    }

    fn error(&mut self, what: &str, e: &Error) {
        self.text(what, &e.to_string());
        self.debug(what, e);
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            self.text(what, &s.to_string());
            src = s.source();
        }
    }

    fn provider(&mut self, what: &str, p: &dyn KeyProvider) {
        self.debug(what, &p);
        self.text(what, &p.describe());
    }
}

fn ctx() -> EncryptionContext {
    EncryptionContext::from_pairs([("path", "secret/plans.txt")]).unwrap()
}

#[cfg(unix)]
fn set_mode(p: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn nothing_formats_key_material() {
    let mut c = Checker::new();
    let dir = TempDir::new("redaction");

    // Providers from raw bytes.
    let local = Arc::new(LocalKeyProvider::from_key_bytes(LOCAL_KEY, "test").unwrap());
    let identity = Arc::new(X25519Identity::from_secret_bytes(X25519_SECRET, "test"));
    c.provider("local provider", local.as_ref());
    c.provider("x25519 identity", identity.as_ref());
    c.provider("x25519 recipient", identity.recipient());
    c.text("recipient Display", &identity.recipient().to_string());

    // A key file holding FILE_KEY, written by hand in the documented format.
    let id = LocalKeyProvider::from_key_bytes(FILE_KEY, "x")
        .unwrap()
        .key_id()
        .to_owned();
    let path = dir.join("file.key");
    let text = format!("sealstream-local-key v1\nid {id}\nkey {}\n", hex(FILE_KEY));
    std::fs::write(&path, &text).unwrap();
    #[cfg(unix)]
    set_mode(&path, 0o600);
    let from_file = Arc::new(LocalKeyProvider::from_file(&path).unwrap());
    assert_eq!(from_file.key_id(), id);
    c.provider("local provider from file", from_file.as_ref());
    // Key file errors while the file holds the key.
    #[cfg(unix)]
    {
        set_mode(&path, 0o644);
        c.error(
            "permission error",
            &LocalKeyProvider::from_file(&path).unwrap_err(),
        );
        set_mode(&path, 0o600);
    }
    for (name, bad) in [
        ("wrong id", text.replace(&id, "0000000000000000")),
        ("bad digit", text.replacen(&hex(FILE_KEY)[..2], "zz", 1)),
        ("short", text.replace(&hex(FILE_KEY), &hex(&FILE_KEY[..31]))),
        ("extra", format!("{text}{}\n", hex(FILE_KEY))),
    ] {
        std::fs::write(&path, &bad).unwrap();
        c.error(name, &LocalKeyProvider::from_file(&path).unwrap_err());
    }

    // An X25519 secret key file: generated, its secret read back.
    let secret_path = dir.join("id.secret");
    let generated =
        X25519Identity::generate(&secret_path, Some(&dir.join("id.pub")), Overwrite::Never)
            .unwrap();
    let secret_text = std::fs::read_to_string(&secret_path).unwrap();
    let line = secret_text
        .lines()
        .find(|l| l.starts_with("sealstream-x25519-secret1:"))
        .unwrap();
    let raw = Base64UrlUnpadded::decode_vec(&line["sealstream-x25519-secret1:".len()..]).unwrap();
    c.secret("generated x25519 secret", &raw[..32]);
    c.secrets.push((
        "generated x25519 secret text".into(),
        vec![line[26..].to_owned()],
    ));
    c.provider("generated identity", &generated);
    let typo = secret_text.replace(&line[30..40], "AAAAAAAAAA");
    std::fs::write(&secret_path, typo).unwrap();
    c.error(
        "x25519 checksum error",
        &X25519Identity::from_file(&secret_path).unwrap_err(),
    );
    c.error(
        "x25519 parse error",
        &sealstream_kms::X25519Recipient::parse(line).unwrap_err(),
    );

    // Keyrings, sealed keys, records, headers.
    let kr = Keyring::new(vec![local.clone(), identity.clone(), from_file.clone()]).unwrap();
    c.debug("keyring", &kr);
    let sealed = kr
        .seal_key(Suite::Aes256Gcm, ctx(), "backups/db.tar")
        .await
        .unwrap();
    c.secret("sealed data key", sealed.key.expose_secret());
    c.debug("SealKey", &sealed);
    c.debug("salt", &sealed.salt);
    let (sealed, prefix) = with_prefix(sealed);
    c.debug("header", &sealed.header);
    for r in sealed.header.records() {
        c.debug("record", r);
    }
    let known = SealKey {
        header: sealed.header.clone(),
        key: DataKey::from_bytes(*DATA_KEY),
        salt: sealstream_kms::Salt::generate().unwrap(),
    };
    c.debug("SealKey with known key", &known);
    c.debug("DataKey", &known.key);

    // Unwrap errors: wrong context, tampered, malformed, no matching key.
    let moved = Header::new(
        Suite::Aes256Gcm,
        EncryptionContext::new(),
        "",
        sealed.header.records().to_vec(),
    )
    .unwrap();
    c.error(
        "no matching key",
        &kr.open_key(&moved, &prefix, None).await.unwrap_err(),
    );
    let wctx = ctx();
    let wbound = Header::bound_section_for(Suite::Aes256Gcm, &wctx);
    let w = WrapContext {
        suite: Suite::Aes256Gcm,
        context: &wctx,
        bound: &wbound,
        salt: &prefix.salt,
        name: "backups/db.tar",
    };
    c.debug("wrap context", &w);
    for r in sealed.header.records() {
        let mut bytes = r.wrapped().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let bad = KeyRecord::new(r.provider(), r.key_id(), bytes).unwrap();
        for p in [
            local.clone() as Arc<dyn KeyProvider>,
            identity.clone(),
            from_file.clone(),
        ] {
            if p.accepts(&bad) {
                c.error(
                    "unwrap failure",
                    &p.unwrap_unverified(&bad, w).await.unwrap_err(),
                );
            }
        }
        let short = KeyRecord::new(r.provider(), r.key_id(), vec![1, 2, 3]).unwrap();
        for p in [local.clone() as Arc<dyn KeyProvider>, identity.clone()] {
            if p.accepts(&short) {
                c.error(
                    "malformed record",
                    &p.unwrap_unverified(&short, w).await.unwrap_err(),
                );
            }
        }
    }
    c.error(
        "public-only unwrap",
        &identity
            .recipient()
            .unwrap_unverified(&sealed.header.records()[1], w)
            .await
            .unwrap_err(),
    );

    // The blocking keyring.
    let bk = tokio::task::spawn_blocking({
        let kr = kr.clone();
        move || blocking::Keyring::new(kr).unwrap()
    })
    .await
    .unwrap();
    c.debug("blocking keyring", &bk);
    tokio::task::spawn_blocking(move || drop(bk)).await.unwrap();

    // KMS configuration, provider and errors (through a fake endpoint, no
    // server needed).
    let fake = FaultInjectingKms::always("AccessDeniedException", 400).await;
    let sdk = offline_sdk_config(&fake.endpoint()).await;
    let arn = "arn:aws:kms:us-east-1:123456789012:key/aaaaaaaa-0000-0000-0000-000000000009";
    let config = KmsConfig::strict(arn)
        .with_grant_tokens([GRANT_TOKEN])
        .with_retry(RetryPolicy::no_retries());
    c.debug("kms config", &config);
    let kms = KmsProvider::new(KmsProvider::client(&sdk), config).unwrap();
    c.provider("kms provider", &kms);
    c.error("kms generate error", &kms.generate(w).await.unwrap_err());
    c.error(
        "kms wrap error",
        &kms.wrap(&known.key, w).await.unwrap_err(),
    );
    let rec = KeyRecord::new("aws-kms", arn, vec![7; 100]).unwrap();
    c.error(
        "kms unwrap error",
        &kms.unwrap_unverified(&rec, w).await.unwrap_err(),
    );
    let kr_kms = Keyring::new(vec![Arc::new(kms), local.clone()]).unwrap();
    c.debug("keyring with kms", &kr_kms);
    c.error(
        "keyring seal error",
        &kr_kms
            .seal_key(Suite::Aes256Gcm, ctx(), "")
            .await
            .unwrap_err(),
    );

    // With the local KMS server: a KMS-generated data key.
    if let Some(endpoint) = kms_endpoint("nothing_formats_key_material (KMS part)") {
        let sdk = sdk_config(&endpoint, "us-east-1").await;
        let arn = create_key(&sdk, None).await;
        let kms = Arc::new(
            KmsProvider::connect(
                &sdk,
                KmsConfig::strict(&arn).with_grant_tokens([GRANT_TOKEN]),
            )
            .await
            .unwrap(),
        );
        let kr = Keyring::new(vec![kms.clone(), local.clone()]).unwrap();
        let sealed = kr
            .seal_key(Suite::XChaCha20Poly1305, ctx(), "")
            .await
            .unwrap();
        c.secret("kms data key", sealed.key.expose_secret());
        c.debug("kms SealKey", &sealed);
        let (sealed, prefix) = with_prefix(sealed);
        c.provider("connected kms provider", kms.as_ref());
        let moved = Header::new(
            Suite::XChaCha20Poly1305,
            EncryptionContext::new(),
            "",
            sealed.header.records().to_vec(),
        )
        .unwrap();
        c.error(
            "kms wrong context",
            &kr.open_key(&moved, &prefix, None).await.unwrap_err(),
        );
    }
    assert!(c.checked > 60, "only {} strings checked", c.checked);
}

/// The checker itself finds a leak in each encoding.
#[test]
fn checker_catches_leaks() {
    let leaks = [
        hex(LOCAL_KEY),
        format!("prefix {} suffix", hex(&LOCAL_KEY[3..11]).to_uppercase()),
        Base64::encode_string(FILE_KEY),
        Base64UrlUnpadded::encode_string(X25519_SECRET),
        format!("{:?}", DataKey::from_bytes(*DATA_KEY).expose_secret()),
        String::from_utf8_lossy(&DATA_KEY[10..20]).into_owned(),
        format!("grant {GRANT_TOKEN}"),
    ];
    for leak in leaks {
        let caught = std::panic::catch_unwind(|| Checker::new().text("probe", &leak));
        assert!(caught.is_err(), "not caught: {leak}");
    }
    Checker::new().text(
        "clean",
        "nothing to see: arn:aws:kms:us-east-1:123456789012:key/0000",
    );
}
