//! The effective configuration: defaults, the TOML config file,
//! `SEALSTREAM_*` environment variables and command-line flags, in rising
//! order of precedence.
//!
//! Key options (`key_files`, `recipients`, `identities`, `kms_keys`) are
//! one unit: they are taken together from the highest layer that sets any
//! of them, so `--key-file k` on the command line replaces every key named
//! in the environment or the config file.

use std::env;
use std::fmt;
use std::path::{Path, PathBuf};

use sealstream_kms::RetryPolicy;
use serde::Deserialize;

use crate::cli::{Global, KeyArgs, SseArgs, SuiteArg};
use crate::error::{CliError, Result};
use crate::util;

/// Where a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Built in.
    Default,
    /// The config file.
    File,
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File => f.write_str("config file"),
            Source::Env(var) => write!(f, "env {var}"),
            Source::Flag => f.write_str("flag"),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug)]
pub(crate) struct Setting<T> {
    pub(crate) value: T,
    pub(crate) source: Source,
}

impl<T> Setting<T> {
    fn new(value: T, source: Source) -> Self {
        Setting { value, source }
    }
}

/// When to draw the progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProgressMode {
    /// When stderr is a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ProgressMode {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Some(ProgressMode::Auto),
            "always" | "1" | "true" | "yes" | "on" => Some(ProgressMode::Always),
            "never" | "0" | "false" | "no" | "off" => Some(ProgressMode::Never),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ProgressMode::Auto => "auto",
            ProgressMode::Always => "always",
            ProgressMode::Never => "never",
        }
    }
}

/// The keys named by one layer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeySet {
    /// Local key files (seal and open).
    pub(crate) key_files: Vec<PathBuf>,
    /// X25519 recipients (seal only).
    pub(crate) recipients: Vec<String>,
    /// Files of X25519 recipients, one a line (seal only).
    pub(crate) recipients_files: Vec<PathBuf>,
    /// X25519 identity files (open only).
    pub(crate) identities: Vec<PathBuf>,
    /// AWS KMS keys (seal and open).
    pub(crate) kms_keys: Vec<String>,
}

impl KeySet {
    fn is_empty(&self) -> bool {
        self.key_files.is_empty()
            && self.recipients.is_empty()
            && self.recipients_files.is_empty()
            && self.identities.is_empty()
            && self.kms_keys.is_empty()
    }

    fn from_args(a: &KeyArgs) -> Self {
        let expand = |paths: &[PathBuf]| paths.iter().map(|p| util::expand_tilde(p)).collect();
        KeySet {
            key_files: expand(&a.file.key_files),
            recipients: a.recipient.recipients.clone(),
            recipients_files: expand(&a.recipient.recipients_files),
            identities: expand(&a.identity.identities),
            kms_keys: a.kms.kms_keys.clone(),
        }
    }
}

/// S3 server-side encryption settings.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sse {
    /// `AES256` or `aws:kms`.
    pub(crate) mode: Option<String>,
    /// KMS key for `aws:kms`.
    pub(crate) kms_key_id: Option<String>,
    /// File with the SSE-C key.
    pub(crate) customer_key_file: Option<PathBuf>,
}

/// The built-in locations, derived from `SEALSTREAM_HOME` or the XDG
/// directories.
#[derive(Clone, Debug)]
pub(crate) struct Defaults {
    /// The configuration file read when none is named.
    pub(crate) config_file: PathBuf,
    /// The default local key file.
    pub(crate) key_file: PathBuf,
    /// The default X25519 identity file (`keygen --x25519`).
    pub(crate) identity_file: PathBuf,
    /// The default local store.
    pub(crate) store: PathBuf,
}

impl Defaults {
    /// `$SEALSTREAM_HOME/{config.toml,default.key,identity.x25519,store}` if
    /// set; otherwise `$XDG_CONFIG_HOME/sealstream/` (or `~/.config/...`)
    /// for the config and keys and `$XDG_DATA_HOME/sealstream/store` (or
    /// `~/.local/share/...`) for the store.
    pub(crate) fn from_env() -> Result<Self> {
        if let Some(home) = non_empty_env("SEALSTREAM_HOME") {
            let home = util::absolute(&util::expand_tilde(Path::new(&home)));
            return Ok(Defaults {
                config_file: home.join("config.toml"),
                key_file: home.join("default.key"),
                identity_file: home.join("identity.x25519"),
                store: home.join("store"),
            });
        }
        let config_dir = xdg_dir("XDG_CONFIG_HOME", ".config")?.join("sealstream");
        let data_dir = xdg_dir("XDG_DATA_HOME", ".local/share")?.join("sealstream");
        Ok(Defaults {
            config_file: config_dir.join("config.toml"),
            key_file: config_dir.join("default.key"),
            identity_file: config_dir.join("identity.x25519"),
            store: data_dir.join("store"),
        })
    }
}

fn xdg_dir(var: &str, fallback: &str) -> Result<PathBuf> {
    // The XDG spec: a relative path in the variable is invalid and ignored.
    if let Some(dir) = non_empty_env(var).map(PathBuf::from)
        && dir.is_absolute()
    {
        return Ok(dir);
    }
    let home = non_empty_env("HOME").ok_or_else(|| {
        CliError::usage(format!(
            "cannot find the default folders: neither {var} nor HOME is set"
        ))
        .hint("set HOME, or SEALSTREAM_HOME to a folder for sealstream's key and store")
    })?;
    Ok(PathBuf::from(home).join(fallback))
}

fn non_empty_env(var: &str) -> Option<String> {
    env::var(var).ok().filter(|v| !v.is_empty())
}

/// The TOML config file (docs/CLI.md, "Config file").
#[derive(Deserialize, Debug, Default)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    store: Option<String>,
    suite: Option<String>,
    progress: Option<String>,
    keys: FileKeys,
    aws: FileAws,
    s3: FileS3,
    retry: FileRetry,
}

#[derive(Deserialize, Debug, Default)]
#[serde(default, deny_unknown_fields)]
struct FileKeys {
    key_files: Vec<String>,
    recipients: Vec<String>,
    identities: Vec<String>,
    kms_keys: Vec<String>,
    max_unwrap_attempts: Option<usize>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(default, deny_unknown_fields)]
struct FileAws {
    region: Option<String>,
    profile: Option<String>,
    endpoint_url: Option<String>,
    kms_endpoint_url: Option<String>,
    path_style: Option<bool>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(default, deny_unknown_fields)]
struct FileS3 {
    sse: Option<String>,
    sse_kms_key_id: Option<String>,
    sse_c_key_file: Option<String>,
    part_size: Option<String>,
    concurrency: Option<usize>,
}

/// `[retry]`: the one retry policy (docs/CLI.md, "Config file").
#[derive(Deserialize, Debug, Default)]
#[serde(default, deny_unknown_fields)]
struct FileRetry {
    max_attempts: Option<u32>,
    initial_backoff: Option<String>,
    max_backoff: Option<String>,
}

impl FileRetry {
    fn is_empty(&self) -> bool {
        self.max_attempts.is_none() && self.initial_backoff.is_none() && self.max_backoff.is_none()
    }
}

/// A backoff: `250ms`, or a duration as [`util::parse_duration`] reads it
/// (`2s`, `1m`); `key` names the setting in the error.
fn parse_backoff(key: &str, s: &str) -> Result<std::time::Duration> {
    let bad = |e: CliError| e.context(format!("config file `{key}`"));
    match s.trim().strip_suffix("ms") {
        Some(ms) => ms
            .parse::<u64>()
            .map(std::time::Duration::from_millis)
            .map_err(|_| {
                bad(CliError::usage(format!(
                    "duration {s:?}: expected a whole number of milliseconds"
                )))
            }),
        None => util::parse_duration(s).map_err(bad),
    }
}

/// A backoff in the form [`parse_backoff`] reads.
fn backoff_text(d: std::time::Duration) -> String {
    if d.subsec_nanos() == 0 {
        util::human_duration(d)
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The retry policy of a `[retry]` section over the built-in one.
fn retry_policy(file: &FileRetry) -> Result<RetryPolicy> {
    let mut policy = RetryPolicy::default();
    if let Some(n) = file.max_attempts {
        if n == 0 {
            return Err(CliError::usage(
                "config file `retry.max_attempts`: must be at least 1 (1: no retries)",
            ));
        }
        policy.max_attempts = n;
    }
    if let Some(d) = &file.initial_backoff {
        policy.initial_backoff = parse_backoff("retry.initial_backoff", d)?;
    }
    if let Some(d) = &file.max_backoff {
        policy.max_backoff = parse_backoff("retry.max_backoff", d)?;
    }
    if policy.initial_backoff > policy.max_backoff {
        return Err(CliError::usage(format!(
            "config file `retry.initial_backoff` ({:?}) is larger than `retry.max_backoff` ({:?})",
            policy.initial_backoff, policy.max_backoff
        )));
    }
    Ok(policy)
}

/// The effective configuration.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Built-in locations.
    pub(crate) defaults: Defaults,
    /// The config file that was read (or would be, if it existed).
    pub(crate) config_file: Setting<PathBuf>,
    /// Whether that file exists.
    pub(crate) config_file_found: bool,
    /// The store location as written (a folder or `s3://bucket/prefix`).
    pub(crate) store: Setting<String>,
    /// Suite for new objects.
    pub(crate) suite: Setting<Option<SuiteArg>>,
    /// Progress bar mode.
    pub(crate) progress: Setting<ProgressMode>,
    /// Keys from the environment or config file (flags are merged per verb).
    pub(crate) keys: Setting<KeySet>,
    /// Unwrap attempts per object.
    pub(crate) max_unwrap_attempts: Setting<Option<usize>>,
    /// AWS Region.
    pub(crate) region: Setting<Option<String>>,
    /// AWS profile.
    pub(crate) profile: Setting<Option<String>>,
    /// S3 endpoint.
    pub(crate) endpoint_url: Setting<Option<String>>,
    /// KMS endpoint, if not the S3 one.
    pub(crate) kms_endpoint_url: Setting<Option<String>>,
    /// Path-style S3 addressing.
    pub(crate) path_style: Setting<bool>,
    /// SSE defaults (flags are merged per verb).
    pub(crate) sse: Setting<Sse>,
    /// Multipart part size in bytes.
    pub(crate) part_size: Setting<Option<u64>>,
    /// Parts in flight.
    pub(crate) concurrency: Setting<Option<usize>>,
    /// `[retry]`: every retry loop (KMS, S3 body re-fetches, presigned
    /// parts, aborts) and the S3 SDK client's own retries.
    pub(crate) retry: Setting<RetryPolicy>,
    /// `--create-key`: create a missing default key also when stdin is not
    /// a terminal.
    pub(crate) create_key: bool,
    /// `--create`: create a missing local store that was named explicitly.
    pub(crate) create_store: bool,
}

/// Picks the highest layer that is set.
fn layer<T>(
    default: T,
    file: Option<T>,
    env_var: &'static str,
    env: Option<T>,
    flag: Option<T>,
) -> Setting<T> {
    if let Some(v) = flag {
        Setting::new(v, Source::Flag)
    } else if let Some(v) = env {
        Setting::new(v, Source::Env(env_var))
    } else if let Some(v) = file {
        Setting::new(v, Source::File)
    } else {
        Setting::new(default, Source::Default)
    }
}

fn env_list(var: &str) -> Vec<String> {
    non_empty_env(var)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn parse_bool(var: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(CliError::usage(format!(
            "{var}={v}: expected true or false"
        ))),
    }
}

fn parse_suite(what: &str, s: &str) -> Result<SuiteArg> {
    match sealstream_format::Suite::from_name(s) {
        Ok(sealstream_format::Suite::XChaCha20Poly1305) => Ok(SuiteArg::XChaCha20Poly1305),
        Ok(_) => Ok(SuiteArg::Aes256Gcm),
        Err(_) => Err(CliError::usage(format!(
            "{what}: unknown suite {s:?}; expected aes-256-gcm or xchacha20-poly1305"
        ))),
    }
}

impl Config {
    /// Builds the effective configuration from the defaults, the config
    /// file, the environment and the global flags.
    pub(crate) fn load(global: &Global) -> Result<Self> {
        let defaults = Defaults::from_env()?;
        let config_file = layer(
            defaults.config_file.clone(),
            None,
            "SEALSTREAM_CONFIG",
            non_empty_env("SEALSTREAM_CONFIG").map(PathBuf::from),
            global.config.clone(),
        );
        let config_file = Setting::new(
            util::absolute(&util::expand_tilde(&config_file.value)),
            config_file.source,
        );
        let (file, found) = read_file(&config_file.value, config_file.source)?;
        let base = config_file
            .value
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let rel = |s: &str| -> PathBuf { util::resolve_in(&base, s) };

        let store = layer(
            defaults.store.display().to_string(),
            file.store.as_deref().map(|s| {
                if util::is_url(s) {
                    s.to_owned()
                } else {
                    rel(s).display().to_string()
                }
            }),
            "SEALSTREAM_STORE",
            non_empty_env("SEALSTREAM_STORE"),
            global.store.clone(),
        );

        let suite_file = file
            .suite
            .as_deref()
            .map(|s| parse_suite("config file `suite`", s))
            .transpose()?;
        let suite_env = non_empty_env("SEALSTREAM_SUITE")
            .map(|s| parse_suite("SEALSTREAM_SUITE", &s))
            .transpose()?;
        let suite = layer(
            None,
            suite_file.map(Some),
            "SEALSTREAM_SUITE",
            suite_env.map(Some),
            None,
        );

        let progress_file = file
            .progress
            .as_deref()
            .map(|s| {
                ProgressMode::parse(s).ok_or_else(|| {
                    CliError::usage(format!(
                        "config file `progress = {s:?}`: expected auto, always or never"
                    ))
                })
            })
            .transpose()?;
        let progress_env = non_empty_env("SEALSTREAM_PROGRESS")
            .map(|s| {
                ProgressMode::parse(&s).ok_or_else(|| {
                    CliError::usage(format!(
                        "SEALSTREAM_PROGRESS={s}: expected auto, always or never"
                    ))
                })
            })
            .transpose()?;
        let progress_flag = if global.quiet {
            Some(ProgressMode::Never)
        } else if global.progress {
            Some(ProgressMode::Always)
        } else {
            None
        };
        let progress = layer(
            ProgressMode::Auto,
            progress_file,
            "SEALSTREAM_PROGRESS",
            progress_env,
            progress_flag,
        );

        let file_keys = KeySet {
            key_files: file.keys.key_files.iter().map(|s| rel(s)).collect(),
            recipients: file.keys.recipients.clone(),
            recipients_files: Vec::new(),
            identities: file.keys.identities.iter().map(|s| rel(s)).collect(),
            kms_keys: file.keys.kms_keys.clone(),
        };
        let env_keys = KeySet {
            key_files: env_list("SEALSTREAM_KEY_FILE")
                .iter()
                .map(|s| util::absolute(&util::expand_tilde(Path::new(s))))
                .collect(),
            recipients: env_list("SEALSTREAM_RECIPIENT"),
            recipients_files: Vec::new(),
            identities: env_list("SEALSTREAM_IDENTITY")
                .iter()
                .map(|s| util::absolute(&util::expand_tilde(Path::new(s))))
                .collect(),
            kms_keys: env_list("SEALSTREAM_KMS_KEY"),
        };
        let keys = layer(
            KeySet::default(),
            (!file_keys.is_empty()).then_some(file_keys),
            "SEALSTREAM_KEY_FILE/RECIPIENT/IDENTITY/KMS_KEY",
            (!env_keys.is_empty()).then_some(env_keys),
            None,
        );

        let attempts_env = non_empty_env("SEALSTREAM_MAX_UNWRAP_ATTEMPTS")
            .map(|s| {
                s.parse::<usize>().map_err(|_| {
                    CliError::usage(format!(
                        "SEALSTREAM_MAX_UNWRAP_ATTEMPTS={s}: expected a number"
                    ))
                })
            })
            .transpose()?;
        let max_unwrap_attempts = layer(
            None,
            file.keys.max_unwrap_attempts.map(Some),
            "SEALSTREAM_MAX_UNWRAP_ATTEMPTS",
            attempts_env.map(Some),
            None,
        );

        let opt = |f: Option<String>, var: &'static str, flag: Option<String>| {
            layer(
                None,
                f.map(Some),
                var,
                non_empty_env(var).map(Some),
                flag.map(Some),
            )
        };
        let region = opt(file.aws.region, "SEALSTREAM_REGION", global.region.clone());
        let profile = opt(
            file.aws.profile,
            "SEALSTREAM_PROFILE",
            global.profile.clone(),
        );
        if let Some(name) = &profile.value {
            check_aws_profile(name, profile.source)?;
        }
        let endpoint_url = opt(
            file.aws.endpoint_url,
            "SEALSTREAM_ENDPOINT_URL",
            global.endpoint_url.clone(),
        );
        let kms_endpoint_url = opt(
            file.aws.kms_endpoint_url,
            "SEALSTREAM_KMS_ENDPOINT_URL",
            global.kms_endpoint_url.clone(),
        );
        let path_style_env = non_empty_env("SEALSTREAM_PATH_STYLE")
            .map(|v| parse_bool("SEALSTREAM_PATH_STYLE", &v))
            .transpose()?;
        let path_style = layer(
            false,
            file.aws.path_style,
            "SEALSTREAM_PATH_STYLE",
            path_style_env,
            global.path_style.then_some(true),
        );

        let file_sse = Sse {
            mode: file.s3.sse.clone(),
            kms_key_id: file.s3.sse_kms_key_id.clone(),
            customer_key_file: file.s3.sse_c_key_file.as_deref().map(rel),
        };
        let env_sse = Sse {
            mode: non_empty_env("SEALSTREAM_SSE"),
            kms_key_id: non_empty_env("SEALSTREAM_SSE_KMS_KEY_ID"),
            customer_key_file: non_empty_env("SEALSTREAM_SSE_C_KEY_FILE")
                .map(|s| util::absolute(&util::expand_tilde(Path::new(&s)))),
        };
        let sse_set =
            |s: &Sse| s.mode.is_some() || s.kms_key_id.is_some() || s.customer_key_file.is_some();
        let sse = layer(
            Sse::default(),
            sse_set(&file_sse).then_some(file_sse.clone()),
            "SEALSTREAM_SSE*",
            sse_set(&env_sse).then_some(env_sse.clone()),
            None,
        );

        let part_file = file
            .s3
            .part_size
            .as_deref()
            .map(|s| util::parse_size(s).map_err(|e| e.context("config file `s3.part_size`")))
            .transpose()?;
        let part_env = non_empty_env("SEALSTREAM_PART_SIZE")
            .map(|s| util::parse_size(&s).map_err(|e| e.context("SEALSTREAM_PART_SIZE")))
            .transpose()?;
        let part_size = layer(
            None,
            part_file.map(Some),
            "SEALSTREAM_PART_SIZE",
            part_env.map(Some),
            None,
        );
        let conc_env = non_empty_env("SEALSTREAM_CONCURRENCY")
            .map(|s| {
                s.parse::<usize>().map_err(|_| {
                    CliError::usage(format!("SEALSTREAM_CONCURRENCY={s}: expected a number"))
                })
            })
            .transpose()?;
        let concurrency = layer(
            None,
            file.s3.concurrency.map(Some),
            "SEALSTREAM_CONCURRENCY",
            conc_env.map(Some),
            None,
        );

        let retry = layer(
            RetryPolicy::default(),
            (!file.retry.is_empty())
                .then(|| retry_policy(&file.retry))
                .transpose()?,
            "",
            None,
            None,
        );

        Ok(Config {
            defaults,
            config_file,
            config_file_found: found,
            store,
            suite,
            progress,
            keys,
            max_unwrap_attempts,
            region,
            profile,
            endpoint_url,
            kms_endpoint_url,
            path_style,
            sse,
            part_size,
            concurrency,
            retry,
            create_key: global.create_key,
            create_store: global.create,
        })
    }

    /// The keys for a verb: its flags if any key flag was given, otherwise
    /// the environment's or config file's. Empty means "use the default key".
    pub(crate) fn keys_for(&self, args: &KeyArgs) -> Setting<KeySet> {
        if args.any() {
            Setting::new(KeySet::from_args(args), Source::Flag)
        } else {
            self.keys.clone()
        }
    }

    /// The SSE settings for a verb: its flags if any was given, otherwise
    /// the environment's or config file's.
    pub(crate) fn sse_for(&self, args: &SseArgs) -> Sse {
        if args.sse.is_some() || args.sse_kms_key_id.is_some() || args.sse_c_key_file.is_some() {
            Sse {
                mode: args.sse.clone(),
                kms_key_id: args.sse_kms_key_id.clone(),
                customer_key_file: args.sse_c_key_file.as_deref().map(util::expand_tilde),
            }
        } else {
            self.sse.value.clone()
        }
    }

    /// The effective configuration as a JSON object: every setting with its
    /// value and source. Holds paths and key ids, never key material.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::{Value, json};
        fn s<T: Into<Value>>(v: T, src: Source) -> Value {
            json!({ "value": v.into(), "source": src.to_string() })
        }
        let path = |p: &Path| Value::from(p.display().to_string());
        let paths = |ps: &[PathBuf]| Value::from(ps.iter().map(|p| path(p)).collect::<Vec<_>>());
        let opt = |o: &Option<String>| o.clone().map_or(Value::Null, Value::from);
        let keys = &self.keys.value;
        let default_key = keys.is_empty();
        json!({
            "config_file": {
                "value": path(&self.config_file.value),
                "source": self.config_file.source.to_string(),
                "found": self.config_file_found,
            },
            "store": s(self.store.value.clone(), self.store.source),
            "suite": s(
                self.suite.value.map_or("aes-256-gcm", suite_name),
                self.suite.source,
            ),
            "progress": s(self.progress.value.name(), self.progress.source),
            "keys": {
                "source": if default_key { "default".to_owned() } else { self.keys.source.to_string() },
                "key_files": if default_key {
                    Value::from(vec![path(&self.defaults.key_file)])
                } else {
                    paths(&keys.key_files)
                },
                "recipients": keys.recipients.clone(),
                "recipients_files": paths(&keys.recipients_files),
                "identities": paths(&keys.identities),
                "kms_keys": keys.kms_keys.clone(),
                "max_unwrap_attempts": s(
                    self.max_unwrap_attempts.value.unwrap_or(sealstream_kms::DEFAULT_MAX_UNWRAP_ATTEMPTS),
                    self.max_unwrap_attempts.source,
                ),
            },
            "aws": {
                "region": s(opt(&self.region.value), self.region.source),
                "profile": s(opt(&self.profile.value), self.profile.source),
                "endpoint_url": s(opt(&self.endpoint_url.value), self.endpoint_url.source),
                "kms_endpoint_url": s(opt(&self.kms_endpoint_url.value), self.kms_endpoint_url.source),
                "path_style": s(self.path_style.value, self.path_style.source),
            },
            "s3": {
                "sse": s(opt(&self.sse.value.mode), self.sse.source),
                "sse_kms_key_id": s(opt(&self.sse.value.kms_key_id), self.sse.source),
                "sse_c_key_file": s(
                    self.sse.value.customer_key_file.as_deref().map_or(Value::Null, path),
                    self.sse.source,
                ),
                "part_size": s(self.part_size.value, self.part_size.source),
                "concurrency": s(self.concurrency.value, self.concurrency.source),
            },
            "retry": {
                "max_attempts": s(self.retry.value.max_attempts, self.retry.source),
                "initial_backoff": s(
                    backoff_text(self.retry.value.initial_backoff),
                    self.retry.source,
                ),
                "max_backoff": s(backoff_text(self.retry.value.max_backoff), self.retry.source),
            },
            "defaults": {
                "key_file": path(&self.defaults.key_file),
                "identity_file": path(&self.defaults.identity_file),
                "store": path(&self.defaults.store),
            },
        })
    }
}

/// The CLI name of a suite.
pub(crate) fn suite_name(s: SuiteArg) -> &'static str {
    match s {
        SuiteArg::Aes256Gcm => "aes-256-gcm",
        SuiteArg::XChaCha20Poly1305 => "xchacha20-poly1305",
    }
}

fn read_file(path: &Path, source: Source) -> Result<(FileConfig, bool)> {
    util::not_a_folder(path, "the config file itself")?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        // Only a config file that was asked for by name must exist.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && source == Source::Default => {
            return Ok((FileConfig::default(), false));
        }
        Err(e) => {
            return Err(CliError::io("reading config file", path, &e)
                .hint("fix the path given by --config or SEALSTREAM_CONFIG"));
        }
    };
    let config: FileConfig = toml::from_str(&text).map_err(|e| {
        CliError::usage(format!("config file {}: {e}", path.display()))
            .hint("see docs/CLI.md, \"Config file\", for the keys it may hold")
    })?;
    Ok((config, true))
}

/// Refuses a named AWS profile that neither the shared config file nor the
/// credentials file defines (the SDK would otherwise fall back to other
/// credentials silently, or fail later with an unrelated message).
fn check_aws_profile(name: &str, source: Source) -> Result<()> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    let config = file("AWS_CONFIG_FILE", ".aws/config");
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    // Section headers: `[profile NAME]` (or `[default]`) in the config
    // file, `[NAME]` in the credentials file.
    let defines = |path: &Option<PathBuf>, config_style: bool| {
        let Some(text) = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) else {
            return false;
        };
        text.lines().any(|line| {
            let Some(section) = line
                .trim()
                .strip_prefix('[')
                .and_then(|l| l.strip_suffix(']'))
                .map(str::trim)
            else {
                return false;
            };
            if config_style {
                section
                    .strip_prefix("profile")
                    .filter(|rest| rest.starts_with(char::is_whitespace))
                    .map(str::trim)
                    == Some(name)
                    || (section == "default" && name == "default")
            } else {
                section == name
            }
        })
    };
    if defines(&config, true) || defines(&credentials, false) {
        return Ok(());
    }
    let shown = |p: &Option<PathBuf>| {
        p.as_ref()
            .map_or("-".to_owned(), |p| p.display().to_string())
    };
    Err(CliError::usage(format!(
        "profile {} not found (from {source})",
        crate::output::escape(name)
    ))
    .hint(format!(
        "define it in {} or {}, or pass an existing one (`aws configure list-profiles`)",
        shown(&config),
        shown(&credentials)
    )))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn parse(toml_text: &str) -> Result<RetryPolicy> {
        let file: FileConfig = toml::from_str(toml_text).expect("valid TOML");
        retry_policy(&file.retry)
    }

    #[test]
    fn retry_section_is_parsed() {
        let p =
            parse("[retry]\nmax_attempts = 7\ninitial_backoff = \"250ms\"\nmax_backoff = \"1m\"\n")
                .unwrap();
        assert_eq!(p.max_attempts, 7);
        assert_eq!(p.initial_backoff, Duration::from_millis(250));
        assert_eq!(p.max_backoff, Duration::from_secs(60));
        // Unset keys keep the built-in values.
        let p = parse("[retry]\nmax_backoff = \"2s\"\n").unwrap();
        let d = RetryPolicy::default();
        assert_eq!(p.max_attempts, d.max_attempts);
        assert_eq!(p.initial_backoff, d.initial_backoff);
        assert_eq!(p.max_backoff, Duration::from_secs(2));
        assert_eq!(parse("").unwrap(), d);
    }

    #[test]
    fn bad_retry_values_are_errors_naming_the_key() {
        for (text, key) in [
            ("[retry]\nmax_attempts = 0\n", "retry.max_attempts"),
            (
                "[retry]\ninitial_backoff = \"fast\"\n",
                "retry.initial_backoff",
            ),
            ("[retry]\nmax_backoff = \"5parsecs\"\n", "retry.max_backoff"),
            ("[retry]\nmax_backoff = \"xms\"\n", "retry.max_backoff"),
            (
                "[retry]\ninitial_backoff = \"10s\"\nmax_backoff = \"1s\"\n",
                "retry.initial_backoff",
            ),
        ] {
            let e = parse(text).expect_err(text);
            let shown = e.to_string();
            assert!(shown.contains(key), "{text}: {shown}");
        }
        // An unknown key in the section is refused by the file parser.
        assert!(toml::from_str::<FileConfig>("[retry]\nattempts = 3\n").is_err());
    }
}
