//! `keygen`: a local key file, or an X25519 identity and its public key.

use serde_json::json;

use sealstream_kms::{LocalKeyProvider, Overwrite, X25519Identity};

use crate::app::App;
use crate::cli::KeygenArgs;
use crate::error::{CliError, Result};
use crate::keys::create_private_dir;
use crate::util;

pub(crate) fn run(app: &App, a: KeygenArgs) -> Result<()> {
    let overwrite = if a.force {
        Overwrite::DangerReplaceExisting
    } else {
        Overwrite::Never
    };
    let default = if a.x25519 {
        &app.cfg.defaults.identity_file
    } else {
        &app.cfg.defaults.key_file
    };
    let path = util::absolute(
        &a.output
            .as_deref()
            .map_or_else(|| default.clone(), util::expand_tilde),
    );
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let exists_hint = "pass --force to replace it (objects sealed only for the old key become \
                       unreadable), or -o to write elsewhere";
    // An existing output is a usage error (exit 2), as for every verb; a
    // folder is never replaced.
    if let Ok(meta) = path.symlink_metadata() {
        if meta.is_dir() {
            return Err(CliError::usage(format!(
                "{} is a folder; pass the path of the key file to create",
                path.display()
            )));
        }
        if !a.force {
            return Err(CliError::usage(format!(
                "{} already exists; refusing to overwrite a key",
                path.display()
            ))
            .hint(exists_hint));
        }
    }
    if a.x25519 {
        let mut public = path.clone().into_os_string();
        public.push(".pub");
        let public = std::path::PathBuf::from(public);
        let id = X25519Identity::generate(&path, Some(&public), overwrite)
            .map_err(|e| CliError::kms("keygen", &e).hint(exists_hint))?;
        let recipient = id.recipient().to_string();
        app.out.result(
            &json!({
                "verb": "keygen",
                "kind": "x25519",
                "identity_file": path.display().to_string(),
                "public_key_file": public.display().to_string(),
                "recipient": recipient,
                "key_id": id.fingerprint(),
            }),
            &recipient,
            false,
        );
        app.out.note(&format!(
            "sealstream: wrote the X25519 identity (secret key) to {} and its public key to {}.\n  \
             Seal for it with --recipient {recipient}; open with --identity {}.",
            path.display(),
            public.display(),
            path.display()
        ));
    } else {
        let key = LocalKeyProvider::generate(&path, overwrite)
            .map_err(|e| CliError::kms("keygen", &e).hint(exists_hint))?;
        app.out.result(
            &json!({
                "verb": "keygen",
                "kind": "local",
                "key_file": path.display().to_string(),
                "key_id": key.key_id(),
            }),
            &format!("{} (key id {})", path.display(), key.key_id()),
            false,
        );
        app.out.note(
            "sealstream: back this key file up: objects sealed with it cannot be opened without it.",
        );
    }
    Ok(())
}
