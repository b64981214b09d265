//! What every verb needs: the configuration, the output mode, the store.

use sealstream_format::Suite;

use crate::cli::{Global, SuiteArg};
use crate::config::Config;
use crate::error::{Class, CliError, Result};
use crate::location::Store;
use crate::output::Output;
use crate::progress::Progress;

/// The loaded configuration and output settings.
#[derive(Debug)]
pub(crate) struct App {
    /// Effective configuration.
    pub(crate) cfg: Config,
    /// How to print.
    pub(crate) out: Output,
}

impl App {
    /// Loads the configuration for the global flags.
    pub(crate) fn new(global: Global, out: Output) -> Result<Self> {
        let cfg = Config::load(&global)?;
        Ok(App { cfg, out })
    }

    /// The configured store.
    pub(crate) fn store(&self) -> Result<Store> {
        Store::parse(&self.cfg.store.value)
            .map_err(|e| e.context(format!("store (from {})", self.cfg.store.source)))
    }

    /// Creates the missing local store folder `root` before a first write.
    /// The default store is created on first use; one named with --store,
    /// $SEALSTREAM_STORE or the config file only with --create, so that a
    /// typo or an unmounted disk is an error rather than a new folder that
    /// quietly receives the backups (issue 11).
    pub(crate) fn create_store_root(&self, root: &std::path::Path) -> Result<()> {
        if self.cfg.store.source != crate::config::Source::Default && !self.cfg.create_store {
            return Err(CliError::new(
                Class::NotFound,
                format!(
                    "the store {} (from {}) does not exist",
                    root.display(),
                    self.cfg.store.source
                ),
            )
            .hint("check the path (is the disk mounted?), or pass --create to create the store"));
        }
        crate::keys::create_private_dir(root)
    }

    /// A progress bar for `total` bytes, per the configured mode.
    pub(crate) fn progress(&self, total: Option<u64>, label: &str) -> Progress {
        Progress::new(self.cfg.progress.value, total, label)
    }

    /// The suite for new objects: the flag, else the configured one, else
    /// AES-256-GCM.
    pub(crate) fn suite(&self, flag: Option<SuiteArg>) -> Suite {
        match flag.or(self.cfg.suite.value) {
            Some(SuiteArg::XChaCha20Poly1305) => Suite::XChaCha20Poly1305,
            _ => Suite::Aes256Gcm,
        }
    }
}

/// Runs blocking work (file I/O, the crypto pipeline) off the async
/// threads.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CliError::new(Class::Internal, format!("a worker thread failed: {e}")))?
}
