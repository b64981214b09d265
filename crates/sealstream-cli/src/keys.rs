//! Building keyrings from the configured keys, and the default key.
//!
//! Sealing wraps the data key for every configured AWS KMS key, local key
//! file and X25519 recipient (KMS first, so KMS generates the data key).
//! Opening uses KMS keys, key files and X25519 identities, loading only the
//! kinds that the object's key block names. With no key configured at any
//! layer, the default local key file is used; sealing creates it on first
//! use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::aws::{AwsOptions, load_sdk_config};
use sealstream_format::Header;
use sealstream_kms::{
    BatchLimits, KeyProvider, Keyring, KmsConfig, KmsProvider, LocalKeyProvider, Overwrite,
    X25519Identity, X25519Recipient,
};

use crate::config::{Config, KeySet};
use crate::error::{Class, CliError, Result};
use crate::output::Output;

/// The provider ids of the three kinds of keys.
const LOCAL: &str = "local";
const X25519: &str = "x25519";
const AWS_KMS: &str = "aws-kms";

/// Loads a local key file, with a CLI error naming it.
pub(crate) fn load_local(path: &Path) -> Result<LocalKeyProvider> {
    crate::util::not_a_folder(path, "the key file itself")?;
    LocalKeyProvider::from_file(path).map_err(|e| {
        CliError::kms("local key", &e).hint(format!(
            "check {} (create one with `sealstream keygen -o {}`)",
            path.display(),
            path.display()
        ))
    })
}

fn load_identity(path: &Path) -> Result<X25519Identity> {
    crate::util::not_a_folder(path, "the identity (secret key) file itself")?;
    X25519Identity::from_file(path).map_err(|e| {
        CliError::kms("X25519 identity", &e)
            .hint("pass the secret key file made by `sealstream keygen --x25519`")
    })
}

/// A recipient given as the public key text or as a file holding it.
pub(crate) fn load_recipient(s: &str) -> Result<X25519Recipient> {
    // Never echo a secret key given by mistake (issue 10 item 8), also
    // not inside the text of a key file passed as `"$(cat FILE)"`.
    let secret = s.lines().any(|l| {
        l.trim_start()
            .get(..sealstream_kms::X25519_SECRET_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(sealstream_kms::X25519_SECRET_PREFIX))
    });
    if secret {
        return Err(CliError::usage(
            "--recipient: this is a secret key (an identity); pass its public key",
        )
        .hint(
            "a recipient is the public key `sealstream keygen --x25519` printed \
             (sealstream-x25519-pub1:...); keep the secret key private, and consider it \
             exposed if it went into shell history",
        ));
    }
    if s.starts_with(sealstream_kms::X25519_PUBLIC_PREFIX) {
        return X25519Recipient::parse(s).map_err(|e| {
            CliError::new(
                Class::Usage,
                format!("--recipient {}: {e}", crate::output::escape(s)),
            )
        });
    }
    // The text of a `.pub` file, comment lines and all (`"$(cat key.pub)"`).
    if s.contains('\n') || s.trim_start().starts_with('#') {
        return X25519Recipient::parse(s).map_err(|e| {
            CliError::new(
                Class::Usage,
                format!("--recipient: the text given is not a public key file's text: {e}"),
            )
            .hint("pass the .pub file `sealstream keygen --x25519` wrote, or its path")
        });
    }
    let p = crate::util::expand_tilde(Path::new(s));
    if p.exists() {
        crate::util::not_a_folder(&p, "a public key file")?;
        return X25519Recipient::from_file(&p).map_err(|e| CliError::kms("recipient", &e));
    }
    // Not echoed: an unrecognised value may be any secret pasted by mistake.
    Err(CliError::usage(format!(
        "--recipient: the value ({} characters) is not a public key (`{}...`) nor a file \
         holding one",
        s.chars().count(),
        sealstream_kms::X25519_PUBLIC_PREFIX
    ))
    .hint("print a public key with `sealstream keygen --x25519`"))
}

/// The recipients of a recipients file (`-R`): one public key a line, `#`
/// comment lines and blank lines skipped. A line that is not a public key
/// is named by its number, never echoed (it may be a secret pasted by
/// mistake).
pub(crate) fn load_recipients_file(path: &Path) -> Result<Vec<X25519Recipient>> {
    crate::util::not_a_folder(path, "a recipients file")?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::io("reading the recipients file", path, &e))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| {
            CliError::usage(format!(
                "--recipients-file {} line {}: {what}",
                path.display(),
                n + 1
            ))
        };
        if line
            .get(..sealstream_kms::X25519_SECRET_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(sealstream_kms::X25519_SECRET_PREFIX))
        {
            return Err(
                bad("this is a secret key (an identity); list public keys only")
                    .hint("keep the secret key private; put its public key in the file"),
            );
        }
        if !line.starts_with(sealstream_kms::X25519_PUBLIC_PREFIX) {
            return Err(bad(&format!(
                "not a public key (`{}...`)",
                sealstream_kms::X25519_PUBLIC_PREFIX
            ))
            .hint("one public key a line; `#` starts a comment line"));
        }
        out.push(X25519Recipient::parse(line).map_err(|e| bad(&e.to_string()))?);
    }
    if out.is_empty() {
        return Err(CliError::usage(format!(
            "--recipients-file {}: no public key in the file",
            path.display()
        ))
        .hint("one public key a line (sealstream-x25519-pub1:...)"));
    }
    Ok(out)
}

/// The AWS options for KMS: the KMS endpoint if set, never the S3 one.
fn kms_options(cfg: &Config) -> AwsOptions {
    AwsOptions {
        region: cfg.region.value.clone(),
        endpoint_url: cfg.kms_endpoint_url.value.clone(),
        profile: cfg.profile.value.clone(),
    }
}

/// The opening KMS providers of this process, by key list: a tree job
/// (`get -r`, `check`) opens many objects, and one provider per key keeps
/// its `aws-kms-batch` cache across them (one Decrypt per batch, not per
/// object) and loads the SDK configuration once.
type OpeningKms = Option<(Vec<String>, Vec<Arc<dyn KeyProvider>>)>;
static OPENING_KMS: tokio::sync::Mutex<OpeningKms> = tokio::sync::Mutex::const_new(None);

async fn kms_providers(cfg: &Config, keys: &[String]) -> Result<Vec<Arc<dyn KeyProvider>>> {
    let mut memo = OPENING_KMS.lock().await;
    if let Some((k, providers)) = memo.as_ref()
        && k.as_slice() == keys
    {
        return Ok(providers.clone());
    }
    let providers = kms_providers_batched(cfg, keys, None).await?;
    *memo = Some((keys.to_vec(), providers.clone()));
    Ok(providers)
}

/// The configured KMS keys; with `batch`, sealing makes `aws-kms-batch`
/// records (one GenerateDataKey per batch, docs/FORMAT.md).
async fn kms_providers_batched(
    cfg: &Config,
    keys: &[String],
    batch: Option<BatchLimits>,
) -> Result<Vec<Arc<dyn KeyProvider>>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let sdk = load_sdk_config(&kms_options(cfg)).await;
    let mut out: Vec<Arc<dyn KeyProvider>> = Vec::with_capacity(keys.len());
    for k in keys {
        let config = KmsConfig::strict(k.clone()).with_retry(cfg.retry.value.clone());
        let config = match batch {
            Some(limits) => config.with_batch(limits),
            None => config,
        };
        let p = KmsProvider::connect(&sdk, config)
            .await
            .map_err(|e| CliError::kms(&format!("AWS KMS key {k}"), &e))?;
        out.push(Arc::new(p));
    }
    Ok(out)
}

fn with_attempts(cfg: &Config, ring: Keyring) -> Keyring {
    match cfg.max_unwrap_attempts.value {
        Some(n) => ring.with_max_attempts(n),
        None => ring,
    }
}

/// The keyring that seals new objects, and a description of its keys.
/// Creates the default key file on first use (and says so on stderr).
pub(crate) async fn sealing(cfg: &Config, keys: &KeySet, out: Output) -> Result<Keyring> {
    sealing_batched(cfg, keys, out, None).await
}

/// [`sealing`] for many objects: with `kms_batch`, the KMS keys make
/// `aws-kms-batch` records, one GenerateDataKey per batch of objects.
pub(crate) async fn sealing_batched(
    cfg: &Config,
    keys: &KeySet,
    out: Output,
    kms_batch: Option<BatchLimits>,
) -> Result<Keyring> {
    let mut providers: Vec<Arc<dyn KeyProvider>> = Vec::new();
    if is_default(keys) {
        providers.push(Arc::new(default_key(cfg, out)?));
    } else {
        providers.extend(kms_providers_batched(cfg, &keys.kms_keys, kms_batch).await?);
        for p in &keys.key_files {
            providers.push(Arc::new(load_local(p)?));
        }
        for r in &keys.recipients {
            providers.push(Arc::new(load_recipient(r)?));
        }
        for f in &keys.recipients_files {
            for r in load_recipients_file(f)? {
                providers.push(Arc::new(r));
            }
        }
        if providers.is_empty() {
            return Err(CliError::usage(
                "no key to seal with: X25519 identities only open objects",
            )
            .hint("add --recipient PUBKEY (the identity's public key), --key-file or --kms-key"));
        }
    }
    Keyring::new(providers)
        .map(|r| with_attempts(cfg, r))
        .map_err(|e| CliError::kms("keyring", &e))
}

/// The keyring that opens `header`'s object: the configured keys of the
/// kinds its key block names.
pub(crate) async fn opening(
    cfg: &Config,
    keys: &KeySet,
    header: &Header,
    object: &str,
) -> Result<Keyring> {
    let named = |id: &str| header.records().iter().any(|r| r.provider() == id);
    let mut providers: Vec<Arc<dyn KeyProvider>> = Vec::new();
    let (key_files, identities, kms_keys): (Vec<PathBuf>, Vec<PathBuf>, Vec<String>) =
        if is_default(keys) {
            let ids = [cfg.defaults.identity_file.clone()]
                .into_iter()
                .filter(|p| p.exists())
                .collect();
            (vec![cfg.defaults.key_file.clone()], ids, Vec::new())
        } else {
            (
                keys.key_files.clone(),
                keys.identities.clone(),
                keys.kms_keys.clone(),
            )
        };
    if named(AWS_KMS) || named(sealstream_kms::AWS_KMS_BATCH_PROVIDER_ID) {
        providers.extend(kms_providers(cfg, &kms_keys).await?);
    }
    if named(LOCAL) {
        for p in &key_files {
            if is_default(keys) && !p.exists() {
                continue;
            }
            if is_default(keys)
                && let Some(dir) = p.parent()
            {
                check_private_dir(dir, "default key's folder")?;
            }
            providers.push(Arc::new(load_local(p)?));
        }
    }
    if named(X25519) {
        for p in &identities {
            providers.push(Arc::new(load_identity(p)?));
        }
    }
    if providers.is_empty() {
        let sealed_for = describe_records(header);
        let mut err = CliError::new(
            Class::Key,
            format!(
                "{object}: no configured key can open this object (it was sealed for {sealed_for})"
            ),
        );
        err = if is_default(keys) && !cfg.defaults.key_file.exists() {
            err.hint(format!(
                "no key is configured and the default key {} does not exist; pass --key-file, \
                 --identity or --kms-key",
                cfg.defaults.key_file.display()
            ))
        } else {
            err.hint("pass a key that sealed it: --key-file (local), --identity (x25519) or --kms-key (aws-kms)")
        };
        return Err(err);
    }
    Keyring::new(providers)
        .map(|r| with_attempts(cfg, r))
        .map_err(|e| CliError::kms(object, &e))
}

/// The keyring of `rewrap`'s new keys.
pub(crate) async fn new_keys(
    cfg: &Config,
    key_files: &[PathBuf],
    recipients: &[String],
    recipients_files: &[PathBuf],
    kms_keys: &[String],
) -> Result<Keyring> {
    let mut providers: Vec<Arc<dyn KeyProvider>> = Vec::new();
    providers.extend(kms_providers(cfg, kms_keys).await?);
    for p in key_files {
        providers.push(Arc::new(load_local(&crate::util::expand_tilde(p))?));
    }
    for r in recipients {
        providers.push(Arc::new(load_recipient(r)?));
    }
    for f in recipients_files {
        for r in load_recipients_file(&crate::util::expand_tilde(f))? {
            providers.push(Arc::new(r));
        }
    }
    Keyring::new(providers).map_err(|_| {
        CliError::usage("rewrap needs at least one new key")
            .hint("pass --new-key-file, --new-recipient or --new-kms-key")
    })
}

/// Whether no key is configured at any layer (so the default key is used).
pub(crate) fn is_default(keys: &KeySet) -> bool {
    keys.key_files.is_empty()
        && keys.recipients.is_empty()
        && keys.recipients_files.is_empty()
        && keys.identities.is_empty()
        && keys.kms_keys.is_empty()
}

/// Loads the default key, creating it (and its folder, mode 0700) if it
/// does not exist yet.
fn default_key(cfg: &Config, out: Output) -> Result<LocalKeyProvider> {
    let path = &cfg.defaults.key_file;
    if let Some(dir) = path.parent() {
        check_private_dir(dir, "default key's folder")?;
    }
    if path.exists() {
        return load_local(path);
    }
    // Unattended (cron, scripts, CI): a run under the wrong HOME must not
    // silently seal for a new key that nobody backs up (issue 11).
    if !cfg.create_key && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(CliError::new(
            Class::Key,
            format!(
                "no key is configured and the default key {} does not exist; stdin is not a \
                 terminal, so no new key is created unattended",
                path.display()
            ),
        )
        .hint(
            "pass --create-key to create the default key (and back it up), or name a key with \
             --key-file, --recipient or --kms-key (check HOME / SEALSTREAM_HOME if a key \
             should exist)",
        ));
    }
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    match LocalKeyProvider::generate(path, Overwrite::Never) {
        Ok(p) => {
            // Always printed, also with --quiet and --json: a new secret
            // that must be backed up is never created silently.
            out.warn(&format!(
                "sealstream: created a new local key at {} (key id {}).\n  \
                 Back it up: objects sealed with it cannot be opened without it.",
                path.display(),
                p.key_id()
            ));
            Ok(p)
        }
        // Another process created it first: use that one.
        Err(_) if path.exists() => load_local(path),
        Err(e) => Err(CliError::kms("default key", &e)),
    }
}

/// Creates `dir` and its missing parents; the last one with mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| CliError::io("creating folder", dir, &e))
}

/// Refuses a folder of secrets or state (the default key's folder, the
/// upload-journal folder) that another user could change: one writable by
/// group or others, or owned by another user. Anyone who can write there
/// can replace the default key (so that new objects are sealed for theirs)
/// or plant a journal or a symbolic link. A folder that does not exist yet
/// passes (it is created with mode 0700). The owner check compares with the
/// owner of `/proc/self` (the effective user) and is skipped where there is
/// none.
pub(crate) fn check_private_dir(dir: &Path, what: &str) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = match std::fs::metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CliError::io("checking folder", dir, &e)),
        };
        if let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid())
            && meta.uid() != me
        {
            return Err(CliError::usage(format!(
                "the {what} {} is owned by another user (uid {}, you are {me}): that user can \
                 replace the files in it",
                dir.display(),
                meta.uid()
            ))
            .hint("use a folder of your own (set SEALSTREAM_HOME), or have it chown'ed to you"));
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(CliError::usage(format!(
                "the {what} {} is writable by group or others (mode {mode:04o}): another user \
                 could replace or plant files in it",
                dir.display()
            ))
            .hint(format!(
                "restrict it with `chmod 700 {}` and check the files in it",
                dir.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (dir, what);
    Ok(())
}

/// `local key 3f2a…, aws-kms key arn:…` for messages.
pub(crate) fn describe_records(header: &Header) -> String {
    header
        .records()
        .iter()
        .take(8)
        .map(|r| {
            format!(
                "{} key {}",
                crate::output::escape(r.provider()),
                crate::output::escape(r.key_id())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
