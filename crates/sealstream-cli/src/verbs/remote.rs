//! The S3 side of the verbs, and share links.

use std::path::{Path, PathBuf};

use sealstream_format::{EncryptionContext, Header};

use crate::app::App;
use crate::cli::{
    BenchArgs, CatArgs, CleanupArgs, GetArgs, PresignArgs, PutArgs, RewrapArgs, ShareArgs,
};
use crate::error::{Class, CliError, Result};
use crate::location::{Store, Target};
use crate::util::ByteRange;

fn unavailable(what: &str) -> CliError {
    CliError::new(
        Class::Usage,
        format!("{what} is not available in this build yet (the S3 adapter is not wired in)"),
    )
}

pub(crate) async fn put_s3(
    app: &App,
    a: &PutArgs,
    _input: Option<&Path>,
    _target: &Target,
    _context: EncryptionContext,
) -> Result<()> {
    let _sse = app.cfg.sse_for(&a.sse);
    Err(unavailable("put to S3"))
}

pub(crate) async fn get_remote(
    _app: &App,
    _a: &GetArgs,
    _target: &Target,
    _dest: Option<PathBuf>,
    _wanted: EncryptionContext,
) -> Result<()> {
    Err(unavailable("get from S3"))
}

pub(crate) async fn cat_remote(
    _app: &App,
    _a: &CatArgs,
    _target: &Target,
    _range: Option<ByteRange>,
    _wanted: EncryptionContext,
) -> Result<()> {
    Err(unavailable("cat from S3"))
}

pub(crate) async fn read_remote_header(
    _app: &App,
    _target: &Target,
) -> Result<(Header, usize, Option<u64>)> {
    Err(unavailable("inspect of S3 objects"))
}

pub(crate) async fn ls_s3(_app: &App, _store: &Store, _prefix: &str) -> Result<()> {
    Err(unavailable("ls of S3 stores"))
}

pub(crate) async fn rewrap_s3(
    _app: &App,
    _a: &RewrapArgs,
    _target: &Target,
    _wanted: EncryptionContext,
) -> Result<()> {
    Err(unavailable("rewrap of S3 objects"))
}

pub(crate) async fn presign(_app: &App, a: PresignArgs) -> Result<()> {
    let _expires = crate::util::parse_duration(&a.expires)?;
    Err(unavailable("presign"))
}

pub(crate) async fn share(_app: &App, a: ShareArgs) -> Result<()> {
    let _expires = crate::util::parse_duration(&a.expires)?;
    Err(unavailable("share"))
}

pub(crate) async fn cleanup(_app: &App, a: CleanupArgs) -> Result<()> {
    let _older = crate::util::parse_duration(&a.older_than)?;
    Err(unavailable("cleanup"))
}

pub(crate) async fn bench(_app: &App, _a: BenchArgs) -> Result<()> {
    Err(unavailable("bench"))
}
