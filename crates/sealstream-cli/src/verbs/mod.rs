//! One module per group of verbs; [`dispatch`] picks the verb.

mod check;
mod config;
mod crypt;
mod inspect;
mod keygen;
mod ls;
mod manual;
mod migrate;
mod mv;
mod objects;
mod prune;
mod remote;
mod resume;
mod rewrap;
mod rm;
mod tree;
mod web;

pub(crate) use crypt::open_key;

use serde_json::{Value, json};

use sealstream_format::Header;

use crate::app::App;
use crate::cli::Command;
use crate::error::Result;

/// Runs one verb.
pub(crate) async fn dispatch(app: &App, command: Command) -> Result<()> {
    match command {
        Command::Keygen(a) => keygen::run(app, a),
        Command::Encrypt(a) => crypt::encrypt(app, a).await,
        Command::Decrypt(a) => crypt::decrypt(app, a).await,
        Command::Put(a) => tree::put(app, a).await,
        Command::Get(a) if a.recursive => tree::get(app, a).await,
        Command::Get(a) => objects::get(app, a).await,
        Command::Cat(a) => objects::cat(app, a).await,
        Command::Ls(a) => ls::run(app, a).await,
        Command::Inspect(a) => inspect::inspect(app, a).await,
        Command::Rewrap(a) => rewrap::run(app, a).await,
        Command::Mv(a) => mv::run(app, a).await,
        Command::Presign(a) => remote::presign(app, a).await,
        Command::Share(a) => remote::share(app, a).await,
        Command::UploadLink(a) => web::upload_link(app, a).await,
        Command::Cors(a) => web::cors(app, a).await,
        Command::Cleanup(a) => remote::cleanup(app, a).await,
        Command::Bench(a) => remote::bench(app, a).await,
        Command::Migrate(a) => migrate::run(app, a).await,
        Command::Check(a) => check::run(app, a).await,
        Command::Rm(a) => rm::run(app, a).await,
        Command::Prune(a) => prune::run(app, a).await,
        Command::Config(c) => config::run(app, c),
        Command::Completions(a) => manual::completions(&a),
        Command::Man(a) => manual::man(&a),
    }
}

/// Resolves `inspect`/`rewrap`'s TARGET: a bare name that is an existing
/// local file is that file, unless the store also holds an object of that
/// name (one HEAD request for an S3 store).
pub(crate) async fn file_or_object(app: &App, s: &str) -> Result<crate::location::Target> {
    use crate::location::Target;
    let store = app.store()?;
    let t = Target::parse(s, &store, true)?;
    if let Target::Local(p) = &t
        && !crate::location::is_explicit_path(s)
        && !s.starts_with("file://")
        && let Ok(Target::S3 { bucket, key }) = store.object(s)
    {
        let admin = crate::s3::admin_client_for(
            app,
            crate::s3::client(app).await,
            &crate::s3::SseKeys::default(),
        )?;
        // An object that refuses HEAD (SSE-C without its key) exists.
        return match admin.exists(&bucket, &key).await {
            Ok(true) => Ok(Target::S3 { bucket, key }),
            Ok(false) if p.exists() => Ok(Target::Local(p.clone())),
            // Neither exists: the store's object is what was meant.
            Ok(false) => Ok(Target::S3 { bucket, key }),
            Err(e) => Err(crate::s3::s3_error(&e)),
        };
    }
    Ok(t)
}

/// The key records of a header as JSON: provider, key id, wrapped length.
pub(crate) fn records_json(header: &Header) -> Value {
    Value::from(
        header
            .records()
            .iter()
            .map(|r| {
                json!({
                    "provider": r.provider(),
                    "key_id": r.key_id(),
                    "wrapped_len": r.wrapped().len(),
                })
            })
            .collect::<Vec<_>>(),
    )
}

/// A context as a JSON object.
pub(crate) fn context_json(header: &Header) -> Value {
    Value::Object(
        header
            .context()
            .iter()
            .map(|(k, v)| (k.to_owned(), Value::from(v)))
            .collect(),
    )
}

/// `local 3f2a…, x25519 9c1d…` for human output.
pub(crate) fn keys_human(header: &Header) -> String {
    header
        .records()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                crate::output::escape(r.provider()),
                crate::output::escape(r.key_id())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
