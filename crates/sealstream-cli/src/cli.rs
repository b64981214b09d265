//! The command line: verbs, options and their help text (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::EXIT_CODES_HELP;

/// Client-side encryption for files, folders of objects and S3.
///
/// Every object is sealed on this machine before it is stored: a fresh data
/// key per object, wrapped by a local key file, X25519 recipients or AWS KMS
/// (several at once if you like), and a chunked, authenticated body that
/// can be streamed and read at any offset.
///
/// With nothing configured, `sealstream put FILE` seals FILE into the
/// default local store with the default local key, creating both on first
/// use.
#[derive(Parser, Debug)]
#[command(name = "sealstream", version, after_help = EXIT_CODES_HELP)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The command as users see it: the long version text, and each verb's
/// help showing only the global options that verb uses. The others stay
/// accepted everywhere (`sealstream --store S keygen` in a script keeps
/// working), they are only left out of that verb's help, man page and
/// completions.
pub(crate) fn command() -> clap::Command {
    use clap::CommandFactory;
    let mut cmd = Cli::command().long_version(long_version());
    // clap propagates a global option only to subcommands that do not
    // define one with the same id, so a hidden copy of it defined on a verb
    // takes its place there (before the command is built: mutating a built
    // one breaks its option lookup).
    let globals: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    let verbs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for verb in verbs {
        cmd = cmd.mut_subcommand(&verb, |mut sc| {
            for a in &globals {
                if !uses_global(&verb, a.get_id().as_str()) {
                    sc = sc.arg(a.clone().hide(true));
                }
            }
            sc
        });
    }
    cmd
}

/// Whether the verb `verb` uses the global option `id` (a field of
/// [`Global`]). `--json`, `--quiet` and `--config` are used by every verb.
fn uses_global(verb: &str, id: &str) -> bool {
    // Verbs that seal with the configured keys (and so may create the
    // default key), that stream data with a progress bar, that address a
    // store, that may reach S3, and that may reach KMS.
    const SEALS: &[&str] = &["encrypt", "put", "mv", "bench", "migrate"];
    const PROGRESS: &[&str] = &["encrypt", "decrypt", "put", "get", "cat"];
    const STORE: &[&str] = &[
        "put",
        "get",
        "cat",
        "ls",
        "inspect",
        "rewrap",
        "mv",
        "presign",
        "share",
        "upload-link",
        "cleanup",
        "bench",
        "check",
        "rm",
        "prune",
        "config",
    ];
    const S3: &[&str] = &[
        "put",
        "get",
        "cat",
        "ls",
        "inspect",
        "rewrap",
        "mv",
        "presign",
        "share",
        "upload-link",
        "cors",
        "cleanup",
        "migrate",
        "bench",
        "check",
        "rm",
        "prune",
        "config",
    ];
    const KMS: &[&str] = &[
        "encrypt", "decrypt", "put", "get", "cat", "rewrap", "mv", "share", "migrate", "bench",
        "check", "config",
    ];
    let among = |list: &[&str]| list.contains(&verb);
    match id {
        "json" | "quiet" | "config" => true,
        "progress" => among(PROGRESS),
        "store" => among(STORE),
        "create" => verb == "put",
        "create_key" => among(SEALS),
        "endpoint_url" | "path_style" => among(S3),
        "region" | "profile" => among(S3) || among(KMS),
        "kms_endpoint_url" => among(KMS),
        // An option added to Global later is shown until it is sorted in.
        _ => true,
    }
}

/// `--version`: the release, the commit it was built from, the format
/// version it writes and the library computing AES-256-GCM.
pub(crate) fn long_version() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{}\ncommit: {}\nformat: version {} (body: C2SP chunked encryption v1)\n\
             AES-256-GCM: {}",
            env!("CARGO_PKG_VERSION"),
            env!("SEALSTREAM_BUILD_COMMIT"),
            sealstream_format::FORMAT_VERSION,
            sealstream_format::AES_BACKEND
        )
    })
}

/// Options every verb takes.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct Global {
    /// Print one JSON object per result on stdout (and errors as JSON on stderr).
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// No progress bar and no notes on stderr; errors are still printed.
    #[arg(long, short, global = true, conflicts_with = "progress")]
    pub(crate) quiet: bool,

    /// Show the progress bar even when stderr is not a terminal.
    #[arg(long, global = true)]
    pub(crate) progress: bool,

    /// Configuration file [default: $SEALSTREAM_CONFIG, $SEALSTREAM_HOME/config.toml or
    /// $XDG_CONFIG_HOME/sealstream/config.toml].
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// The store: a folder (`./backups`, `file:///srv/vault`) or `s3://bucket/prefix`
    /// [default: $SEALSTREAM_STORE, the config file's `store`, or the default local store].
    #[arg(long, global = true, value_name = "STORE")]
    pub(crate) store: Option<String>,

    /// S3 endpoint, for S3-compatible servers (`http://127.0.0.1:9000`); implies
    /// path-style addressing.
    #[arg(long, global = true, value_name = "URL", help_heading = "AWS")]
    pub(crate) endpoint_url: Option<String>,

    /// AWS Region [default: the standard AWS chain, then us-east-1].
    #[arg(long, global = true, value_name = "REGION", help_heading = "AWS")]
    pub(crate) region: Option<String>,

    /// AWS profile from ~/.aws/config.
    #[arg(long, global = true, value_name = "NAME", help_heading = "AWS")]
    pub(crate) profile: Option<String>,

    /// Path-style S3 addressing (`http://host/bucket/key`), which most S3-compatible
    /// servers need.
    #[arg(long, global = true, help_heading = "AWS")]
    pub(crate) path_style: bool,

    /// AWS KMS endpoint, for KMS-compatible servers (--endpoint-url is for S3 only).
    #[arg(long, global = true, value_name = "URL", help_heading = "AWS")]
    pub(crate) kms_endpoint_url: Option<String>,

    /// Create the default key if it does not exist, also when stdin is not a terminal
    /// (cron jobs, scripts); without it such a run refuses to create one (exit 5).
    #[arg(long, global = true)]
    pub(crate) create_key: bool,

    /// Create a local store folder given with --store, $SEALSTREAM_STORE or the config file
    /// if it does not exist; without it a missing one is exit 3 (the default store is
    /// always created on first use).
    #[arg(long, global = true)]
    pub(crate) create: bool,
}

/// The verbs.
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Create a local key file, or with --x25519 a recipient key pair.
    Keygen(KeygenArgs),
    /// Seal a file or stdin (`-`) to a file or stdout.
    Encrypt(EncryptArgs),
    /// Open a sealed file or stdin (`-`) to a file or stdout.
    Decrypt(DecryptArgs),
    /// Seal a file or stdin into a store object, several files into a prefix, or with -r a
    /// folder tree.
    #[command(override_usage = "sealstream put [OPTIONS] FILE|- [DEST]\n       \
                                sealstream put [OPTIONS] FILE... PREFIX/\n       \
                                sealstream put -r [OPTIONS] DIR [PREFIX/]")]
    Put(PutArgs),
    /// Open a store object (or a share link) into a file or stdout, or with -r every object
    /// under a prefix into a folder.
    #[command(
        override_usage = "sealstream get [OPTIONS] OBJECT|-|--link-file FILE [DEST]\n       \
                                sealstream get -r [OPTIONS] PREFIX/ DIR"
    )]
    Get(GetArgs),
    /// Write an object's plaintext, or a byte range of it, to stdout.
    Cat(CatArgs),
    /// List a store's objects with their plaintext sizes, suites and key ids.
    Ls(LsArgs),
    /// Show the header of a sealed file or object (no key needed).
    Inspect(InspectArgs),
    /// Change who can open a sealed file or object, without re-encrypting it.
    Rewrap(RewrapArgs),
    /// Rename an object in its store (local or S3), re-binding its keys to the new name
    /// without re-encrypting it.
    Mv(MvArgs),
    /// Print a presigned GET or PUT URL for an S3 object.
    Presign(PresignArgs),
    /// Print a share link: a presigned URL with the object's data key in its fragment.
    Share(ShareArgs),
    /// Print a link to the web page that seals a file in a browser for --recipient and uploads it.
    UploadLink(UploadLinkArgs),
    /// Print (or with --apply, set) the bucket CORS rule the web page needs.
    Cors(CorsArgs),
    /// List and abort stale multipart uploads under an S3 prefix.
    Cleanup(CleanupArgs),
    /// Convert Amazon S3 Encryption Client objects under an S3 prefix into sealstream objects.
    Migrate(MigrateArgs),
    /// Measure sealing and opening throughput (and with --s3, transfers).
    Bench(BenchArgs),
    /// Authenticate every object under a prefix (or a random sample); nothing is written.
    Check(CheckArgs),
    /// Remove objects from a store, or with -r everything under a prefix.
    Rm(RmArgs),
    /// Remove dated backups under a prefix that are older than a duration, keeping the
    /// newest.
    Prune(PruneArgs),
    /// Show the configuration.
    #[command(
        subcommand,
        after_help = "Examples:\n  sealstream config show\n  sealstream config path"
    )]
    Config(ConfigCommand),
    /// Print a shell completion script to stdout.
    Completions(CompletionsArgs),
    /// Write the manual pages (sealstream.1 and one per verb), or print sealstream.1.
    Man(ManArgs),
}

/// `completions`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream completions bash > ~/.local/share/bash-completion/completions/sealstream\n  \
    sealstream completions zsh > \"${fpath[1]}/_sealstream\"\n  \
    sealstream completions fish > ~/.config/fish/completions/sealstream.fish")]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum, value_name = "SHELL")]
    pub(crate) shell: clap_complete::Shell,
}

/// `man`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream man | man -l -\n  \
    sealstream man --out ~/.local/share/man/man1")]
pub(crate) struct ManArgs {
    /// Write sealstream.1 and sealstream-VERB.1 for every verb into DIR (replacing older
    /// pages) instead of printing sealstream.1 to stdout.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
}

/// `--key-file`, which seals and opens.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct KeyFileArgs {
    /// Local key file (see `sealstream keygen`); repeatable.
    #[arg(long = "key-file", value_name = "PATH", help_heading = "Keys")]
    pub(crate) key_files: Vec<PathBuf>,
}

/// `--recipient` and `--recipients-file`, which only seal.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct RecipientArgs {
    /// X25519 recipient public key (or its .pub file) to seal for; repeatable.
    #[arg(long = "recipient", value_name = "PUBKEY", help_heading = "Keys")]
    pub(crate) recipients: Vec<String>,

    /// File of X25519 recipient public keys, one a line (`#` comments and blank lines
    /// allowed); repeatable.
    #[arg(
        long = "recipients-file",
        short = 'R',
        value_name = "PATH",
        help_heading = "Keys"
    )]
    pub(crate) recipients_files: Vec<PathBuf>,
}

/// `--identity`, which opens.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct IdentityArgs {
    /// X25519 identity (secret key) file to open with; repeatable.
    #[arg(
        long = "identity",
        short = 'i',
        value_name = "PATH",
        help_heading = "Keys"
    )]
    pub(crate) identities: Vec<PathBuf>,
}

/// `--kms-key`, which seals and opens.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct KmsKeyArgs {
    /// AWS KMS key (ARN, key id or alias/NAME); repeatable.
    #[arg(long = "kms-key", value_name = "ARN|alias/NAME", help_heading = "Keys")]
    pub(crate) kms_keys: Vec<String>,
}

/// Which keys seal or open objects (all kinds: `mv` opens and seals).
///
/// Several may be given; a sealed object then carries one wrapping per key
/// (any one of them opens it). The verbs that only seal take
/// [`SealKeyArgs`], those that only open [`OpenKeyArgs`], so that each
/// verb's help shows only the options it uses. Each option is defined once,
/// in the small structs these flatten, in the order the help lists them.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct KeyArgs {
    #[command(flatten)]
    pub(crate) file: KeyFileArgs,
    #[command(flatten)]
    pub(crate) recipient: RecipientArgs,
    #[command(flatten)]
    pub(crate) identity: IdentityArgs,
    #[command(flatten)]
    pub(crate) kms: KmsKeyArgs,
}

impl KeyArgs {
    /// Whether any key option was given.
    pub(crate) fn any(&self) -> bool {
        !(self.file.key_files.is_empty()
            && self.recipient.recipients.is_empty()
            && self.recipient.recipients_files.is_empty()
            && self.identity.identities.is_empty()
            && self.kms.kms_keys.is_empty())
    }
}

/// `--identity` as the sealing verbs describe it: what re-opens sealed data.
#[derive(Args, Debug, Clone, Default)]
// Derived help drops the final period; `mut_arg` re-adds the option last, which it
// already is here, so the option order of every verb stays as declared.
#[command(mut_arg("identities", |a| a.help(
    "X25519 identity (secret key) file, for what re-opens sealed data: `put --resume` of an \
     upload sealed only for recipients, `put -r --checksum`; repeatable"
)))]
pub(crate) struct SealIdentityArgs {
    #[command(flatten)]
    identity: IdentityArgs,
}

/// The keys that seal new objects (`encrypt`, `put`, `migrate`).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct SealKeyArgs {
    #[command(flatten)]
    file: KeyFileArgs,
    #[command(flatten)]
    recipient: RecipientArgs,
    #[command(flatten)]
    identity: SealIdentityArgs,
    #[command(flatten)]
    kms: KmsKeyArgs,
}

impl SealKeyArgs {
    /// As the key arguments of every kind.
    pub(crate) fn all(&self) -> KeyArgs {
        KeyArgs {
            file: self.file.clone(),
            recipient: self.recipient.clone(),
            identity: self.identity.identity.clone(),
            kms: self.kms.clone(),
        }
    }
}

/// The keys that open objects (`decrypt`, `get`, `cat`, `check`, `share`, `rewrap`).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct OpenKeyArgs {
    #[command(flatten)]
    file: KeyFileArgs,
    #[command(flatten)]
    identity: IdentityArgs,
    #[command(flatten)]
    kms: KmsKeyArgs,
}

impl OpenKeyArgs {
    /// As the key arguments of every kind.
    pub(crate) fn all(&self) -> KeyArgs {
        KeyArgs {
            file: self.file.clone(),
            identity: self.identity.clone(),
            kms: self.kms.clone(),
            ..KeyArgs::default()
        }
    }
}

/// Raw keys that open Amazon S3 Encryption Client objects (docs/S3EC.md).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct S3ecKeyArgs {
    /// AES wrapping key of S3 Encryption Client objects (wrapping `AES/GCM`): a file of 16 or
    /// 32 raw bytes or one line of base64, mode 0600; repeatable.
    #[arg(
        long = "s3ec-aes-key",
        value_name = "PATH",
        help_heading = "S3 Encryption Client keys"
    )]
    pub(crate) aes_keys: Vec<PathBuf>,

    /// RSA private key of S3 Encryption Client objects (wrapping `RSA-OAEP-SHA1`): PKCS#8, PEM
    /// or DER, mode 0600; repeatable.
    #[arg(
        long = "s3ec-rsa-key",
        value_name = "PATH",
        help_heading = "S3 Encryption Client keys"
    )]
    pub(crate) rsa_keys: Vec<PathBuf>,
}

/// Encryption context pairs.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ContextArgs {
    /// Encryption context pair, authenticated with the object; repeatable. Opening
    /// requires exactly the pairs the object was sealed with.
    #[arg(
        long = "encryption-context",
        visible_alias = "context",
        value_name = "KEY=VALUE"
    )]
    pub(crate) pairs: Vec<String>,
}

/// The AEAD suite for new objects.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SuiteArg {
    /// AES-256-GCM (Cobblestone-256); fastest with AES hardware.
    #[value(name = "aes-256-gcm")]
    Aes256Gcm,
    /// XChaCha20-Poly1305.
    #[value(name = "xchacha20-poly1305")]
    XChaCha20Poly1305,
}

/// S3 server-side encryption, layered under sealstream's own.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct SseArgs {
    /// Server-side encryption: AES256 or aws:kms.
    #[arg(
        long,
        value_name = "AES256|aws:kms",
        help_heading = "S3 server-side encryption"
    )]
    pub(crate) sse: Option<String>,

    /// KMS key for --sse aws:kms.
    #[arg(
        long,
        value_name = "KEY_ID",
        help_heading = "S3 server-side encryption"
    )]
    pub(crate) sse_kms_key_id: Option<String>,

    /// File holding a 32-byte SSE-C key (raw or base64); needed again to read.
    #[arg(long, value_name = "PATH", help_heading = "S3 server-side encryption")]
    pub(crate) sse_c_key_file: Option<PathBuf>,
}

/// `keygen`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream keygen                       the default local key\n  \
    sealstream keygen -o team.key\n  \
    sealstream keygen --x25519 -o ~/.keys/me.x25519   (prints the public key; writes me.x25519.pub)")]
pub(crate) struct KeygenArgs {
    /// Create an X25519 identity (secret key file) and print its public key.
    #[arg(long)]
    pub(crate) x25519: bool,

    /// Where to write the key file [default: the default key; for --x25519
    /// identity.x25519 beside it].
    #[arg(short, long, value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,

    /// Overwrite an existing key file (objects sealed only for it become unreadable).
    #[arg(long)]
    pub(crate) force: bool,
}

/// `encrypt`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream encrypt notes.txt -o notes.txt.sealed\n  \
    tar c docs | sealstream encrypt -r \"$(cat alice.pub)\" -R team.txt > docs.tar.sealed\n  \
    sealstream encrypt --kms-key alias/backup db.dump -o db.dump.sealed")]
#[command(mut_arg("recipients", |a| a.short('r')))]
// encrypt never re-opens sealed data: no --identity.
#[command(mut_arg("identities", |a| a.hide(true)))]
pub(crate) struct EncryptArgs {
    /// The file to seal, or `-` for stdin.
    #[arg(default_value = "-", value_name = "INPUT")]
    pub(crate) input: String,

    /// Where to write the sealed object, or `-` for stdout [default: stdout].
    #[arg(short, long, value_name = "OUTPUT")]
    pub(crate) output: Option<String>,

    /// AEAD suite.
    #[arg(long, value_enum)]
    pub(crate) suite: Option<SuiteArg>,

    #[command(flatten)]
    pub(crate) keys: SealKeyArgs,

    #[command(flatten)]
    pub(crate) context: ContextArgs,

    /// Overwrite OUTPUT if it exists.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `decrypt`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream decrypt notes.txt.sealed -o notes.txt\n  \
    sealstream decrypt -i ~/.keys/me.x25519 docs.tar.sealed | tar x\n  \
    sealstream decrypt --kms-key alias/backup - < db.dump.sealed > db.dump")]
pub(crate) struct DecryptArgs {
    /// The sealed file, or `-` for stdin.
    #[arg(default_value = "-", value_name = "INPUT")]
    pub(crate) input: String,

    /// Where to write the plaintext, or `-` for stdout [default: stdout]. A file is
    /// written under a temporary name and renamed only after the whole object
    /// authenticated.
    #[arg(short, long, value_name = "OUTPUT")]
    pub(crate) output: Option<String>,

    #[command(flatten)]
    pub(crate) keys: OpenKeyArgs,

    #[command(flatten)]
    pub(crate) context: ContextArgs,

    /// Overwrite OUTPUT if it exists.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `put`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream put report.pdf                    into the default store as report.pdf\n  \
    sealstream put report.pdf 2026/ --store s3://bucket/docs\n  \
    pg_dump db | sealstream put - nightly/db.sql --recipient \"$(cat ops.pub)\"\n  \
    sealstream put big.iso --resume              continue an interrupted upload")]
pub(crate) struct PutArgs {
    /// The files to seal (`-`: stdin, then DEST must name the object), then DEST: an object
    /// name in the store, `s3://bucket/key`, or a prefix ending in `/` [default: FILE's name].
    /// Several FILEs need a prefix DEST; with -r, FILE is a folder.
    #[arg(value_name = "PATH", required = true, num_args = 1..)]
    pub(crate) paths: Vec<String>,

    /// The one FILE (filled from `paths` before the verb runs).
    #[arg(skip)]
    pub(crate) input: String,

    /// DEST (filled from `paths` before the verb runs).
    #[arg(skip)]
    pub(crate) dest: Option<String>,

    #[command(flatten)]
    pub(crate) tree: TreeArgs,

    /// Seal every regular file under the folder FILE into `DEST/relative/path` [default
    /// DEST: the folder's name]; a second run stores only new or changed files.
    #[arg(long, short = 'r')]
    pub(crate) recursive: bool,

    /// With -r: skip only files whose plaintext equals the stored object's (decrypts and
    /// compares) instead of comparing size, mtime and mode.
    #[arg(long, requires = "recursive")]
    pub(crate) checksum: bool,

    /// Several files or -r, sealed for --kms-key: objects per AWS KMS batch key, so a tree of
    /// small files makes one GenerateDataKey per N files (and at least one per 10 minutes)
    /// instead of one per file. Every object still gets its own data key, derived from the batch
    /// key and bound to its name (docs/SECURITY.md, "KMS batch keys"). 0: one GenerateDataKey
    /// per object.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub(crate) kms_batch: u32,

    /// With -r: skip files and folders whose path relative to the folder matches GLOB
    /// (repeatable; `*` stays within one folder, `**` crosses folders).
    #[arg(long, value_name = "GLOB", requires = "recursive")]
    pub(crate) exclude: Vec<String>,

    /// With -r: store only files whose relative path matches GLOB (repeatable).
    #[arg(long, value_name = "GLOB", requires = "recursive")]
    pub(crate) include: Vec<String>,

    /// With -r: follow symbolic links (to files and folders) instead of skipping them.
    #[arg(long, requires = "recursive")]
    pub(crate) follow_symlinks: bool,

    /// AEAD suite.
    #[arg(long, value_enum)]
    pub(crate) suite: Option<SuiteArg>,

    #[command(flatten)]
    pub(crate) keys: SealKeyArgs,

    #[command(flatten)]
    pub(crate) context: ContextArgs,

    #[command(flatten)]
    pub(crate) sse: SseArgs,

    /// Replace an existing object of the same name (and abort an interrupted
    /// upload of it).
    #[arg(long)]
    pub(crate) force: bool,

    /// Continue an interrupted (killed) multipart upload of FILE to DEST from
    /// its journal; starts a new upload if there is none.
    #[arg(long)]
    pub(crate) resume: bool,
}

/// `get`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream get report.pdf                    to ./report.pdf\n  \
    sealstream get s3://bucket/docs/report.pdf - | less\n  \
    sealstream get -i ~/.keys/me.x25519 nightly/db.sql db.sql\n  \
    sealstream get --link-file link.txt out.bin")]
pub(crate) struct GetArgs {
    /// Object name in the store, `s3://bucket/key`, a share link (`https://...#k=...`), or
    /// `-`: read the share link from stdin (keeps it out of the process list and shell
    /// history).
    #[arg(value_name = "OBJECT", required_unless_present = "link_file")]
    pub(crate) source: Option<String>,

    /// Read the share link from this file (a regular file of at most 4096 bytes, mode 0600
    /// or stricter) instead of the command line; then the only argument is DEST.
    #[arg(long, value_name = "PATH")]
    pub(crate) link_file: Option<PathBuf>,

    /// Where to write the plaintext, or `-` for stdout [default: the object's name in the
    /// current folder]. Written under a temporary name, renamed after full authentication.
    #[arg(value_name = "DEST")]
    pub(crate) dest: Option<String>,

    #[command(flatten)]
    pub(crate) keys: OpenKeyArgs,

    #[command(flatten)]
    pub(crate) context: ContextArgs,

    #[command(flatten)]
    pub(crate) sse: SseArgs,

    #[command(flatten)]
    pub(crate) s3ec: S3ecKeyArgs,

    /// Overwrite DEST if it exists.
    #[arg(long)]
    pub(crate) force: bool,

    /// Restore every object under the prefix OBJECT into the folder DEST (created if
    /// needed), with relative paths, modes and mtimes.
    #[arg(long, short = 'r')]
    pub(crate) recursive: bool,

    #[command(flatten)]
    pub(crate) tree: TreeArgs,
}

/// Options of the tree verbs (`put -r`, `get -r`).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct TreeArgs {
    /// With -r: how many files are sealed or opened at once [default: the cores for a
    /// local store; for S3 twice the cores, at least 4 and at most 8].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) jobs: Option<u16>,
}

/// `cat`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream cat notes.txt\n  \
    sealstream cat s3://bucket/logs/app.log --range 0-1023\n  \
    sealstream cat big.log --range -4096 | tail")]
pub(crate) struct CatArgs {
    /// Object name in the store, `s3://bucket/key`, a share link, a local sealed file, or `-`:
    /// read the share link from stdin.
    #[arg(value_name = "OBJECT", required_unless_present = "link_file")]
    pub(crate) source: Option<String>,

    /// Read the share link from this file (as for `get --link-file`); then no OBJECT.
    #[arg(long, value_name = "PATH", conflicts_with = "source")]
    pub(crate) link_file: Option<PathBuf>,

    /// Plaintext byte range: `START-END` (inclusive, like HTTP), `START-` or `-LAST_N`.
    #[arg(long, value_name = "START-END", allow_hyphen_values = true)]
    pub(crate) range: Option<String>,

    #[command(flatten)]
    pub(crate) keys: OpenKeyArgs,

    #[command(flatten)]
    pub(crate) context: ContextArgs,

    #[command(flatten)]
    pub(crate) sse: SseArgs,

    #[command(flatten)]
    pub(crate) s3ec: S3ecKeyArgs,
}

/// `ls --sort`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LsSort {
    /// Names A to Z.
    Name,
    /// Largest plaintext first.
    Size,
    /// Newest first.
    Time,
}

/// `ls`.
#[derive(Args, Debug)]
#[command(
    after_help = "Sizes are plaintext sizes, computed from the stored size without a key \
    (a claim until the object is opened). An object that cannot be read or is not a valid \
    sealstream object is listed with what is wrong, and the exit code is then non-zero.\n\n\
    Examples:\n  \
    sealstream ls\n  \
    sealstream ls -l backups/2026-\n  \
    sealstream ls -l photos/ --sort size\n  \
    sealstream ls -l s3://bucket/nightly/ --sort time --reverse --json"
)]
pub(crate) struct LsArgs {
    /// Only objects whose names start with PREFIX (the same on local and S3 stores); or a
    /// whole store URL (`s3://bucket/prefix/`, `file:///srv/vault`).
    #[arg(value_name = "PREFIX")]
    pub(crate) prefix: Option<String>,

    /// Long listing: a header line; plaintext size, stored time, suite, short key ids and
    /// name per object; then a totals line.
    #[arg(long, short = 'l')]
    pub(crate) long: bool,

    /// Order of the listing (size: largest first; time: newest first).
    #[arg(long, value_enum, value_name = "BY", default_value = "name")]
    pub(crate) sort: LsSort,

    /// Reverse the order.
    #[arg(long)]
    pub(crate) reverse: bool,

    #[command(flatten)]
    pub(crate) sse: SseArgs,
}

/// `inspect`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream inspect notes.txt.sealed\n  \
    sealstream inspect s3://bucket/docs/report.pdf --json")]
pub(crate) struct InspectArgs {
    /// A local sealed file (if the path exists), `s3://bucket/key`, or an object name
    /// in the store.
    #[arg(value_name = "TARGET")]
    pub(crate) target: String,

    #[command(flatten)]
    pub(crate) sse: SseArgs,
}

/// `rewrap`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream rewrap report.pdf -r \"$(cat bob.pub)\" --new-key-file team.key\n  \
    sealstream rewrap s3://bucket/db.sql -i me.x25519 -R recipients.txt\n  \
    sealstream rewrap notes.txt.sealed --new-kms-key alias/archive")]
pub(crate) struct RewrapArgs {
    /// A local sealed file (if the path exists), `s3://bucket/key`, or an object name
    /// in the store.
    #[arg(value_name = "TARGET")]
    pub(crate) target: String,

    /// Keys that can open the object now.
    #[command(flatten)]
    pub(crate) keys: OpenKeyArgs,

    /// New local key file; repeatable.
    #[arg(long = "new-key-file", value_name = "PATH", help_heading = "New keys")]
    pub(crate) new_key_files: Vec<PathBuf>,

    /// New X25519 recipient public key (or its .pub file); repeatable.
    #[arg(
        long = "new-recipient",
        short = 'r',
        value_name = "PUBKEY",
        help_heading = "New keys"
    )]
    pub(crate) new_recipients: Vec<String>,

    /// File of new X25519 recipients, one a line (`#` comments and blank lines allowed);
    /// repeatable.
    #[arg(
        long = "new-recipients-file",
        short = 'R',
        value_name = "PATH",
        help_heading = "New keys"
    )]
    pub(crate) new_recipients_files: Vec<PathBuf>,

    /// New AWS KMS key; repeatable.
    #[arg(
        long = "new-kms-key",
        value_name = "ARN|alias/NAME",
        help_heading = "New keys"
    )]
    pub(crate) new_kms_keys: Vec<String>,

    #[command(flatten)]
    pub(crate) context: ContextArgs,

    #[command(flatten)]
    pub(crate) sse: SseArgs,
}

/// `mv`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream mv drafts/report.pdf final/report.pdf\n  \
    sealstream mv s3://bucket/tmp/db.sql s3://bucket/nightly/db.sql")]
pub(crate) struct MvArgs {
    /// Object name in the store, `s3://bucket/key`, or a local sealed file.
    #[arg(value_name = "SRC")]
    pub(crate) source: String,

    /// The new name in the same kind of store (`s3://bucket/key` for S3 objects).
    #[arg(value_name = "DST")]
    pub(crate) dest: String,

    /// Keys that open the object; the moved object is sealed for the configured keys.
    #[command(flatten)]
    pub(crate) keys: KeyArgs,

    #[command(flatten)]
    pub(crate) sse: SseArgs,

    /// Replace DST if it exists.
    #[arg(long)]
    pub(crate) force: bool,
}

/// HTTP method of a presigned URL.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    /// Download.
    Get,
    /// Upload (of an already sealed object).
    Put,
}

/// `presign`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream presign s3://bucket/docs/report.pdf --expires 15m\n  \
    sealstream presign s3://bucket/in/upload.sealed --method put")]
pub(crate) struct PresignArgs {
    /// `s3://bucket/key`, or an object name in an S3 store.
    #[arg(value_name = "OBJECT")]
    pub(crate) target: String,

    /// Method.
    #[arg(long, value_enum, default_value = "get")]
    pub(crate) method: Method,

    /// How long the URL stays valid (`900`, `15m`, `12h`, `7d`; at most 7d).
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub(crate) expires: String,
}

/// `share`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream share s3://bucket/docs/report.pdf --expires 24h\n  \
    sealstream share report.pdf --web-page https://example.org/sealstream/")]
pub(crate) struct ShareArgs {
    /// `s3://bucket/key`, or an object name in an S3 store.
    #[arg(value_name = "OBJECT")]
    pub(crate) target: String,

    /// How long the link stays valid (`900`, `15m`, `12h`, `7d`; at most 7d).
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub(crate) expires: String,

    /// Print a link to the sealstream web page at URL (it opens the object in a browser):
    /// `URL#k=KEY&u=BASE64URL(presigned URL)`.
    #[arg(long, value_name = "URL")]
    pub(crate) web_page: Option<String>,

    #[command(flatten)]
    pub(crate) keys: OpenKeyArgs,

    #[command(flatten)]
    pub(crate) context: ContextArgs,
}

/// `cleanup`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream cleanup --dry-run\n  \
    sealstream cleanup s3://bucket/nightly/ --older-than 7d")]
pub(crate) struct CleanupArgs {
    /// Prefix within the store, or `s3://bucket/prefix`.
    #[arg(value_name = "PREFIX")]
    pub(crate) prefix: Option<String>,

    /// Only uploads started at least this long ago (`0` for all).
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub(crate) older_than: String,

    /// List what would be aborted, abort nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// `migrate`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream migrate s3://bucket/legacy/ --dry-run\n  \
    sealstream migrate s3://bucket/legacy/ --to s3://bucket/sealed/ --kms-key alias/backup\n  \
    sealstream migrate s3://bucket/legacy/ --s3ec-aes-key old.key --key-file team.key")]
// migrate opens with its own S3EC keys: no --identity for the new objects' keys.
#[command(mut_arg("identities", |a| a.hide(true)))]
pub(crate) struct MigrateArgs {
    /// The S3 prefix whose Amazon S3 Encryption Client objects to convert (`s3://bucket/prefix/`).
    #[arg(value_name = "s3://BUCKET/PREFIX/")]
    pub(crate) prefix: String,

    /// Write the sealstream objects under this prefix instead of replacing each S3EC object
    /// under its own key (the sources are then left untouched unless --delete-source).
    #[arg(long, value_name = "s3://BUCKET/PREFIX/")]
    pub(crate) to: Option<String>,

    /// AWS KMS key that unwraps the S3EC data keys (the Decrypt KeyId); repeatable
    /// [default: the key each wrapped key names].
    #[arg(long = "source-kms-key", value_name = "ARN|alias/NAME")]
    pub(crate) source_kms_keys: Vec<String>,

    #[command(flatten)]
    pub(crate) s3ec: S3ecKeyArgs,

    /// Keys that seal the new objects.
    #[command(flatten)]
    pub(crate) keys: SealKeyArgs,

    /// Only migrate objects with exactly this encryption context (without aws:x-amz-cek-alg).
    #[command(flatten)]
    pub(crate) context: ContextArgs,

    #[command(flatten)]
    pub(crate) sse: SseArgs,

    /// After each successful conversion, delete the source object (with --to) and its
    /// instruction file.
    #[arg(long)]
    pub(crate) delete_source: bool,

    /// List what would be converted; write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

impl MigrateArgs {
    /// The keys that open the sources.
    pub(crate) fn source_keys(&self) -> KeyArgs {
        KeyArgs {
            kms: KmsKeyArgs {
                kms_keys: self.source_kms_keys.clone(),
            },
            ..KeyArgs::default()
        }
    }
}

/// `bench`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream bench\n  \
    sealstream bench --size 1GiB --suite aes-256-gcm --threads 4\n  \
    sealstream bench --s3 --store s3://bucket/bench/")]
pub(crate) struct BenchArgs {
    /// Plaintext bytes per in-memory measurement (`64MiB`, `1GiB`).
    #[arg(long, default_value = "64MiB", value_name = "SIZE")]
    pub(crate) size: String,

    /// Worker threads for the "all threads" figures [default: every core].
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,

    /// Only this suite [default: both].
    #[arg(long, value_enum)]
    pub(crate) suite: Option<SuiteArg>,

    /// Repetitions of each measurement; the median is reported.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub(crate) repetitions: usize,

    /// Also measure file-to-file sealing and opening of this file (scratch files are
    /// written next to it and removed).
    #[arg(long, value_name = "PATH")]
    pub(crate) file: Option<PathBuf>,

    /// Also measure S3 upload and download through the store's bucket.
    #[arg(long)]
    pub(crate) s3: bool,
}

/// `config`.
#[derive(Subcommand, Debug)]
pub(crate) enum ConfigCommand {
    /// Print the effective configuration and where each value came from (no secrets).
    #[command(after_help = "Examples:\n  sealstream config show\n  sealstream config show --json")]
    Show,
    /// Print the path of the configuration file that is read.
    #[command(
        after_help = "Examples:\n  sealstream config path\n  $EDITOR \"$(sealstream config path)\""
    )]
    Path,
}

/// `upload-link`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream upload-link s3://bucket/inbox/scan.pdf --recipient ops.pub --web-page https://example.org/sealstream/")]
pub(crate) struct UploadLinkArgs {
    /// The object to create, `s3://bucket/key` (or a name in an S3 store).
    #[arg(value_name = "OBJECT")]
    pub(crate) target: String,

    /// X25519 public key (or a file holding it) the browser seals for; repeatable.
    #[arg(long = "recipient", value_name = "PUBKEY", required = true)]
    pub(crate) recipients: Vec<String>,

    /// URL of the sealstream web page (built from `web/`).
    #[arg(long, value_name = "URL")]
    pub(crate) web_page: String,

    /// The largest file the link accepts (`100MiB`, `5GiB`); parts are presigned for it.
    #[arg(long, default_value = "1GiB", value_name = "SIZE")]
    pub(crate) max_size: String,

    /// How long the link stays valid (`900`, `15m`, `12h`, `7d`; at most 7d).
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub(crate) expires: String,

    /// Make the link even if an object already exists under that key.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `cors`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream cors s3://bucket --origin https://example.org\n  \
    sealstream cors s3://bucket --origin https://example.org --apply")]
pub(crate) struct CorsArgs {
    /// The bucket, `s3://bucket`.
    #[arg(value_name = "s3://BUCKET")]
    pub(crate) bucket: String,

    /// Origin (or URL) of the web page, `https://host[:port]`; repeatable.
    #[arg(long = "origin", value_name = "URL", required = true)]
    pub(crate) origins: Vec<String>,

    /// Set the rule on the bucket (replacing its CORS configuration) instead of printing it.
    #[arg(long)]
    pub(crate) apply: bool,
}

/// `check`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    sealstream check                      every object in the store\n  \
    sealstream check backups/2026- --jobs 4\n  \
    sealstream check s3://bucket/nightly/ --sample 10 --json")]
pub(crate) struct CheckArgs {
    /// A name prefix in the store, or a store (`s3://bucket/prefix/`, `file:///srv/vault`)
    /// [default: the whole store].
    #[arg(value_name = "PREFIX")]
    pub(crate) prefix: Option<String>,

    /// Check a random PERCENT of the objects (rounded up) instead of all of them.
    #[arg(long, value_name = "PERCENT")]
    pub(crate) sample: Option<String>,

    /// Objects checked at once [default: 2 for a local store, 8 for S3].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(usize))]
    pub(crate) jobs: Option<usize>,

    #[command(flatten)]
    pub(crate) keys: OpenKeyArgs,

    #[command(flatten)]
    pub(crate) sse: SseArgs,
}

/// `rm`.
#[derive(Args, Debug)]
#[command(
    after_help = "Every NAME is resolved before anything is removed: one that names no \
    object removes nothing (exit 3).\n\nExamples:\n  \
    sealstream rm backups/old.tar\n  \
    sealstream rm -r backups/2025/ --dry-run\n  \
    sealstream rm s3://bucket/nightly/db.tar"
)]
pub(crate) struct RmArgs {
    /// Object names in the store or `s3://bucket/key`; with -r, prefixes (`backups/2025/`,
    /// `s3://bucket/prefix/`).
    #[arg(value_name = "NAME", required = true)]
    pub(crate) names: Vec<String>,

    /// Remove every object under each prefix (`backups/2025` means `backups/2025/`).
    #[arg(long, short)]
    pub(crate) recursive: bool,

    /// List what would be removed and remove nothing.
    #[arg(long, short = 'n')]
    pub(crate) dry_run: bool,
}

/// `prune`.
#[derive(Args, Debug)]
#[command(
    after_help = "A backup is each entry directly under PREFIX/: one object \
    (nightly/2026-12-01.tar) or a folder of objects (nightly/2026-12-01/..., as `put -r` \
    stores a tree). A backup's time is the stored time of its newest object (the S3 \
    LastModified, the local store file's mtime). prune removes every backup older than \
    --older-than, except the --keep-last newest backups, which stay whatever their age: \
    with the default of 1, a job that stopped running never loses its last backup.\n\n\
    Examples:\n  \
    sealstream prune nightly/ --older-than 30d --dry-run\n  \
    sealstream prune nightly/ --older-than 30d --keep-last 7\n  \
    sealstream prune s3://bucket/nightly/ --older-than 8w --json"
)]
pub(crate) struct PruneArgs {
    /// The prefix whose entries are dated backups (`nightly` means `nightly/`), or a store
    /// URL (`s3://bucket/nightly/`).
    #[arg(value_name = "PREFIX")]
    pub(crate) prefix: String,

    /// Remove backups older than this (`36h`, `30d`, `8w`; units s, m, h, d, w).
    #[arg(long, value_name = "DURATION", required = true)]
    pub(crate) older_than: String,

    /// Keep the N newest backups whatever their age (0: none).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) keep_last: usize,

    /// List what would be removed and remove nothing.
    #[arg(long, short = 'n')]
    pub(crate) dry_run: bool,
}
