//! [`SealedStore`]: the `ObjectStore` that seals on put and opens on get.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyMode, CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult,
    MultipartUpload, ObjectMeta, ObjectStore, PutMode, PutMultipartOptions, PutOptions, PutPayload,
    PutResult,
};
use sealstream_format::{
    BODY_PREFIX_LEN, BodyPrefix, CHUNK_SIZE, ChunkOpener, ChunkSealer, EncryptionContext,
    HEADER_LEN, Header, SEALED_CHUNK_SIZE, Suite, codec, layout,
};
use sealstream_kms::Keyring;

use crate::cache::{OpenCache, Opened};

use crate::error::{Error, Result, generic};
use crate::upload::SealedUpload;

/// Object bytes before chunk 0: the header, the salt and the commitment.
pub(crate) const BODY_START: u64 = (HEADER_LEN + BODY_PREFIX_LEN) as u64;
const BODY_START_USIZE: usize = HEADER_LEN + BODY_PREFIX_LEN;
/// Sealed chunks a whole-object stream opens at a time (4 MiB).
const STREAM_BATCH_CHUNKS: usize = 256;
/// Opened objects kept by default.
pub const DEFAULT_CACHE_CAPACITY: usize = 256;
/// Plaintext bytes per multipart part by default (a whole number of chunks,
/// above S3's 5 MiB minimum part size once sealed).
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;

/// An [`ObjectStore`] that stores every object as a sealstream object in
/// the inner store `S`, sealed under a fresh data key from its [`Keyring`]
/// and bound to its location (see the crate docs).
pub struct SealedStore<S> {
    inner: Arc<S>,
    keyring: Keyring,
    suite: Suite,
    context: EncryptionContext,
    cache: Arc<OpenCache>,
    part_size: usize,
}

impl<S> fmt::Debug for SealedStore<S>
where
    S: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedStore")
            .field("inner", &self.inner)
            .field("keyring", &self.keyring)
            .field("suite", &self.suite)
            .field("context", &self.context)
            .field("part_size", &self.part_size)
            .finish_non_exhaustive()
    }
}

impl<S: fmt::Display> fmt::Display for SealedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedStore({})", self.inner)
    }
}

impl<S: ObjectStore> SealedStore<S> {
    /// Wraps `inner`; data keys come from `keyring` (the first provider
    /// generates, every one wraps; opening tries its providers).
    pub fn new(inner: S, keyring: Keyring) -> Self {
        Self::from_arc(Arc::new(inner), keyring)
    }

    /// Wraps a shared inner store.
    pub fn from_arc(inner: Arc<S>, keyring: Keyring) -> Self {
        SealedStore {
            inner,
            keyring,
            suite: Suite::Aes256Gcm,
            context: EncryptionContext::new(),
            cache: Arc::new(OpenCache::new(DEFAULT_CACHE_CAPACITY)),
            part_size: DEFAULT_PART_SIZE,
        }
    }

    /// Seals new objects with `suite` (default AES-256-GCM). Reading
    /// accepts both suites.
    pub fn with_suite(mut self, suite: Suite) -> Self {
        self.suite = suite;
        self
    }

    /// The encryption context bound to every new object (authenticated,
    /// public, passed to KMS). Default: empty.
    pub fn with_context(mut self, context: EncryptionContext) -> Self {
        self.context = context;
        self
    }

    /// How many opened objects (unwrapped data keys) are kept for repeated
    /// ranged reads; 0 turns the cache off. Default [`DEFAULT_CACHE_CAPACITY`].
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache = Arc::new(OpenCache::new(capacity));
        self
    }

    /// Plaintext bytes per part of a multipart upload, rounded down to whole
    /// 16 KiB chunks (at least one chunk). Default [`DEFAULT_PART_SIZE`].
    /// Memory held by one upload is about one part.
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = (bytes / CHUNK_SIZE).max(1) * CHUNK_SIZE;
        self
    }

    /// The inner store (what it holds is ciphertext).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Seals `plain` into a complete object bound to `location`.
    async fn seal_object(&self, location: &Path, plain: Bytes) -> Result<Bytes> {
        let (header, cipher, prefix) = self.seal_start(location).await?;
        let path = location.to_string();
        let body = tokio::task::spawn_blocking(move || {
            let sealed =
                codec::sealed_run_len(plain.len(), true).map_err(|e| Error::format(&path, e))?;
            let mut out = Vec::with_capacity(BODY_START_USIZE + sealed);
            out.extend_from_slice(&header.encode());
            out.extend_from_slice(&prefix.to_bytes());
            out.resize(BODY_START_USIZE + sealed, 0);
            let (_, body) = out.split_at_mut(BODY_START_USIZE);
            codec::seal_into(&cipher, 0, &plain, true, body, 0)
                .map_err(|e| Error::format(&path, e))?;
            Ok::<_, Error>(Bytes::from(out))
        })
        .await
        .map_err(generic)??;
        Ok(body)
    }

    /// A fresh data key for `location`: its header (bound to the name), the
    /// chunk cipher and the body prefix.
    pub(crate) async fn seal_start(
        &self,
        location: &Path,
    ) -> Result<(Header, ChunkSealer, BodyPrefix)> {
        let name = location.as_ref();
        let sealed = self
            .keyring
            .seal_key(self.suite, self.context.clone(), name)
            .await
            .map_err(|e| Error::kms(name, e))?;
        let (cipher, prefix) = ChunkSealer::new(
            self.suite,
            &sealed.key,
            sealed.salt,
            sealed.header.bound_section(),
        )
        .map_err(|e| Error::format(name, e))?;
        Ok((sealed.header, cipher, prefix))
    }

    /// Parses and opens the first [`BODY_START`] bytes of the object at
    /// `location` described by `meta` (cache first, then the key ring).
    async fn open(&self, location: &Path, meta: &ObjectMeta, start: &[u8]) -> Result<Arc<Opened>> {
        let name = location.as_ref();
        if let Some(o) = self.cache.get(location, meta.e_tag.as_deref())
            && o.object_len == meta.size
        {
            return Ok(o);
        }
        let plaintext_len = plaintext_len(location, meta.size)?;
        let (header, prefix) = parse_start(name, start)?;
        let key = self
            .keyring
            .open_key(&header, &prefix, Some(name))
            .await
            .map_err(|e| Error::kms(name, e))?;
        let cipher = ChunkOpener::new(header.suite(), &key, &prefix, header.bound_section())
            .map_err(|e| Error::format(name, e))?;
        let opened = Arc::new(Opened::new(
            meta.e_tag.clone(),
            meta.size,
            plaintext_len,
            cipher,
        ));
        self.cache.insert(location, Arc::clone(&opened));
        Ok(opened)
    }

    async fn get_whole(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let res = self.inner.get_opts(location, options).await?;
        let meta = res.meta.clone();
        let attributes = res.attributes.clone();
        let extensions = res.extensions.clone();
        let mut inner = res.into_stream();
        let mut buf = BytesMut::new();
        while buf.len() < BODY_START_USIZE {
            match inner.try_next().await? {
                Some(b) => buf.extend_from_slice(&b),
                None => break,
            }
        }
        let opened = self.open(location, &meta, &buf).await?;
        let mut rest = buf.split_off(BODY_START_USIZE.min(buf.len()));
        let plaintext_len = opened.plaintext_len;
        let body_len = opened.object_len - BODY_START;
        let state = WholeStream {
            path: location.to_string(),
            inner,
            buf: std::mem::take(&mut rest),
            opened,
            next_index: 0,
            remaining: body_len,
            done: false,
        };
        let stream = stream::try_unfold(state, WholeStream::next).boxed();
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream),
            meta: ObjectMeta {
                size: plaintext_len,
                ..meta
            },
            range: 0..plaintext_len,
            attributes,
            extensions,
        })
    }

    async fn get_range(
        &self,
        location: &Path,
        options: GetOptions,
        range: GetRange,
    ) -> Result<GetResult> {
        let name = location.as_ref();
        // Cache hit: one ranged GET, checked against the entry's ETag and size.
        if let Some(opened) = self.cache.latest(location)
            && let Ok(want) = resolve(&range, opened.plaintext_len, name)
        {
            self.check_empty_suffix(location, &options, &range, &want)
                .await?;
            let plan = plan(&range, &want, &opened, name)?;
            let mut opts = options.clone();
            opts.range = Some(GetRange::Bounded(plan.fetch.clone()));
            let res = self.inner.get_opts(location, opts).await?;
            if res.meta.e_tag == opened.e_tag && res.meta.size == opened.object_len {
                return self.finish_range(location, res, &opened, plan, want).await;
            }
            self.cache.remove(location);
        }
        // Miss: the header (and chunk 0's run when the range starts there).
        let mut opts = options.clone();
        let first_fetch_end = match &range {
            GetRange::Bounded(r) if r.start < CHUNK_SIZE as u64 => {
                let last = r.end.saturating_sub(1) / CHUNK_SIZE as u64;
                BODY_START + (last + 1) * SEALED_CHUNK_SIZE as u64 + 16
            }
            _ => BODY_START,
        };
        opts.range = Some(GetRange::Bounded(0..first_fetch_end));
        let res = self.inner.get_opts(location, opts).await?;
        let meta = res.meta.clone();
        let attributes = res.attributes.clone();
        let extensions = res.extensions.clone();
        let got = res.bytes().await?;
        let opened = self.open(location, &meta, &got).await?;
        let want = resolve(&range, opened.plaintext_len, name)?;
        self.check_empty_suffix(location, &options, &range, &want)
            .await?;
        let plan = plan(&range, &want, &opened, name)?;
        let res = if plan.fetch.end <= got.len() as u64 {
            GetResult {
                payload: GetResultPayload::Stream(stream::once(async move { Ok(got) }).boxed()),
                meta,
                range: 0..0,
                attributes,
                extensions,
            }
        } else {
            let mut opts = GetOptions {
                if_match: meta.e_tag.clone(),
                version: options.version.clone(),
                extensions: options.extensions.clone(),
                ..Default::default()
            };
            opts.range = Some(GetRange::Bounded(plan.fetch.clone()));
            let res = self.inner.get_opts(location, opts).await?;
            if res.meta.size != opened.object_len {
                return Err(generic(format!(
                    "{location}: the object changed while it was read (retry)"
                )));
            }
            res
        };
        self.finish_range(location, res, &opened, plan, want).await
    }

    /// A suffix whose answer is empty (`Suffix(0)`, or any suffix of an
    /// empty object) is where stores differ: `InMemory` answers an empty
    /// range, S3 answers 416. The stored object is never empty, so the inner
    /// store is asked for `Suffix(0)` of it, whose answer does not depend on
    /// the length on either, and its refusal is returned unchanged.
    async fn check_empty_suffix(
        &self,
        location: &Path,
        options: &GetOptions,
        range: &GetRange,
        want: &Range<u64>,
    ) -> Result<()> {
        if !matches!(range, GetRange::Suffix(_)) || want.start != want.end {
            return Ok(());
        }
        let opts = GetOptions {
            range: Some(GetRange::Suffix(0)),
            ..options.clone()
        };
        self.inner.get_opts(location, opts).await?.bytes().await?;
        Ok(())
    }

    async fn finish_range(
        &self,
        location: &Path,
        res: GetResult,
        opened: &Arc<Opened>,
        plan: Plan,
        want: Range<u64>,
    ) -> Result<GetResult> {
        let name = location.to_string();
        let meta = ObjectMeta {
            size: opened.plaintext_len,
            ..res.meta.clone()
        };
        let attributes = res.attributes.clone();
        let extensions = res.extensions.clone();
        let start_in_response = plan.fetch.start - res.range.start;
        let got = res.bytes().await?;
        let mut sealed = got
            .get(usize_of(start_in_response)?..)
            .and_then(|b| b.get(..usize_of(plan.fetch.end - plan.fetch.start).ok()?))
            .ok_or_else(|| truncated(&name))?
            .to_vec();
        let opened2 = Arc::clone(opened);
        let final_index = layout::final_chunk_index(opened.plaintext_len);
        let plain = tokio::task::spawn_blocking(move || {
            let ends = plan.last_chunk == final_index;
            let n = codec::open_compact(&opened2.cipher, plan.first_chunk, &mut sealed, ends, 0)
                .map_err(|e| Error::format(&name, e))?;
            if ends {
                opened2.prove_length();
            }
            sealed.truncate(n);
            let skip = usize_of(plan.skip)?;
            let len = usize_of(want.end - want.start)?;
            let mut out = Bytes::from(sealed);
            out = out.slice(skip.min(out.len())..(skip + len).min(out.len()));
            Ok::<_, object_store::Error>(out)
        })
        .await
        .map_err(generic)??;
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream::once(async move { Ok(plain) }).boxed()),
            meta,
            range: want,
            attributes,
            extensions,
        })
    }

    fn map_meta(location_size: ObjectMeta) -> Result<ObjectMeta> {
        let size = plaintext_len(&location_size.location, location_size.size)?;
        Ok(ObjectMeta {
            size,
            ..location_size
        })
    }
}

/// What to fetch for a plaintext range: object bytes `fetch` hold chunks
/// `first_chunk..=last_chunk`; the range starts `skip` bytes into them.
struct Plan {
    fetch: Range<u64>,
    first_chunk: u64,
    last_chunk: u64,
    skip: u64,
}

/// The range of a request as the inner store resolves it (the same rules
/// and the same errors at and past the end as `InMemory`).
fn resolve(range: &GetRange, len: u64, name: &str) -> Result<Range<u64>> {
    let bad = |detail: String| generic(format!("{name}: invalid range: {detail}"));
    match range {
        GetRange::Bounded(r) if r.end <= r.start => Err(bad(format!(
            "Range started at {} and ended at {}",
            r.start, r.end
        ))),
        GetRange::Bounded(r) if r.start >= len => Err(bad(format!(
            "Wanted range starting at {}, but object was only {len} bytes long",
            r.start
        ))),
        GetRange::Bounded(r) => Ok(r.start..r.end.min(len)),
        GetRange::Offset(o) if *o >= len => Err(bad(format!(
            "Wanted range starting at {o}, but object was only {len} bytes long"
        ))),
        GetRange::Offset(o) => Ok(*o..len),
        GetRange::Suffix(n) => Ok(len.saturating_sub(*n)..len),
    }
}

/// The chunks holding `want`, plus the final chunk when the answer depends
/// on the object's length (an open-ended or clamped range) and that length
/// has not been authenticated yet for this stored object.
fn plan(range: &GetRange, want: &Range<u64>, opened: &Opened, name: &str) -> Result<Plan> {
    let len = opened.plaintext_len;
    let p = layout::plan_range(want.clone(), len).map_err(|e| Error::format(name, e))?;
    let depends_on_len = match range {
        GetRange::Bounded(r) => r.end >= len,
        GetRange::Offset(_) | GetRange::Suffix(_) => true,
    };
    let final_index = layout::final_chunk_index(len);
    let mut last = p.last_chunk;
    if depends_on_len && !opened.length_proven() && last != final_index {
        // Only an empty final chunk can follow a clamped range's last chunk.
        last = final_index;
    }
    let start = layout::chunk_body_range(p.first_chunk, len)
        .map_err(|e| Error::format(name, e))?
        .start;
    let end = layout::chunk_body_range(last, len)
        .map_err(|e| Error::format(name, e))?
        .end;
    Ok(Plan {
        fetch: HEADER_LEN as u64 + start..HEADER_LEN as u64 + end,
        first_chunk: p.first_chunk,
        last_chunk: last,
        skip: p.skip,
    })
}

fn usize_of(n: u64) -> Result<usize> {
    usize::try_from(n).map_err(|_| generic("range larger than this platform's memory"))
}

fn truncated(name: &str) -> object_store::Error {
    Error::Tampered {
        path: name.to_owned(),
        source: sealstream_format::Error::Truncated {
            detail: "the store returned fewer bytes than the object's stored size",
        },
    }
    .into()
}

/// The plaintext length of an object stored as `size` bytes
/// (docs/FORMAT.md, "Lengths and offsets").
fn plaintext_len(location: &Path, size: u64) -> Result<u64> {
    layout::plaintext_len_from_object_len(size).map_err(|_| {
        Error::NotSealstream {
            path: location.to_string(),
            detail: format!("its stored size of {size} bytes is no sealstream object length"),
        }
        .into()
    })
}

/// The state of a whole-object stream: plaintext leaves it one
/// authenticated run of chunks at a time.
struct WholeStream {
    path: String,
    inner: BoxStream<'static, Result<Bytes>>,
    buf: BytesMut,
    opened: Arc<Opened>,
    next_index: u64,
    /// Body bytes not yet opened.
    remaining: u64,
    done: bool,
}

impl WholeStream {
    async fn next(mut self) -> Result<Option<(Bytes, Self)>> {
        if self.done {
            return Ok(None);
        }
        let batch = (STREAM_BATCH_CHUNKS * SEALED_CHUNK_SIZE) as u64;
        let want = usize_of(self.remaining.min(batch))?;
        while self.buf.len() < want {
            match self.inner.try_next().await? {
                Some(b) => self.buf.extend_from_slice(&b),
                None => break,
            }
        }
        if self.buf.len() < want {
            return Err(truncated(&self.path));
        }
        let ends = want as u64 == self.remaining;
        if ends {
            // Anything after the final chunk is trailing data.
            while self.buf.len() == want {
                match self.inner.try_next().await? {
                    Some(b) if b.is_empty() => {}
                    Some(b) => self.buf.extend_from_slice(&b),
                    None => break,
                }
            }
            if self.buf.len() > want {
                return Err(Error::Tampered {
                    path: self.path.clone(),
                    source: sealstream_format::Error::TrailingData,
                }
                .into());
            }
        }
        // A run that does not end the object must be whole chunks.
        let take = if ends {
            want
        } else {
            want - want % SEALED_CHUNK_SIZE
        };
        let mut run = self.buf.split_to(take);
        let opened = Arc::clone(&self.opened);
        let first = self.next_index;
        let path = self.path.clone();
        let (run, n) = tokio::task::spawn_blocking(move || {
            let n = codec::open_compact(&opened.cipher, first, &mut run, ends, 0)
                .map_err(|e| Error::format(&path, e))?;
            if ends {
                opened.prove_length();
            }
            Ok::<_, Error>((run, n))
        })
        .await
        .map_err(generic)??;
        self.next_index += (take / SEALED_CHUNK_SIZE) as u64;
        self.remaining -= take as u64;
        self.done = ends;
        let mut run = run;
        run.truncate(n);
        Ok(Some((run.freeze(), self)))
    }
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for SealedStore<S> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let object = self.seal_object(location, Bytes::from(payload)).await?;
        self.inner.put_opts(location, object.into(), opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let (header, cipher, prefix) = self.seal_start(location).await?;
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        let mut start = header.encode();
        start.extend_from_slice(&prefix.to_bytes());
        Ok(Box::new(SealedUpload::new(
            location.to_string(),
            inner,
            cipher,
            start,
            self.part_size,
        )))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if options.head {
            let res = self.inner.get_opts(location, options).await?;
            let meta = Self::map_meta(res.meta)?;
            return Ok(GetResult {
                payload: GetResultPayload::Stream(stream::empty().boxed()),
                range: 0..meta.size,
                meta,
                attributes: res.attributes,
                extensions: res.extensions,
            });
        }
        match options.range.clone() {
            None => self.get_whole(location, options).await,
            Some(range) => self.get_range(location, options, range).await,
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let cache = Arc::clone(&self.cache);
        let locations = locations.inspect_ok(move |p| cache.remove(p)).boxed();
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner
            .list(prefix)
            .map(|r| r.and_then(Self::map_meta))
            .boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner
            .list_with_offset(prefix, offset)
            .map(|r| r.and_then(Self::map_meta))
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let r = self.inner.list_with_delimiter(prefix).await?;
        Ok(ListResult {
            common_prefixes: r.common_prefixes,
            objects: r
                .objects
                .into_iter()
                .map(Self::map_meta)
                .collect::<Result<_>>()?,
            extensions: r.extensions,
        })
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        // The name is bound in the header, so a copy is a new header (the key
        // re-wrapped for `to`, commitment checked) in front of the same body
        // bytes; object stores cannot replace the start of an object, so the
        // body travels through this process (as ciphertext, never opened).
        let name = from.as_ref();
        let res = self.inner.get_opts(from, GetOptions::default()).await?;
        let attributes = res.attributes.clone();
        let object = res.bytes().await?;
        plaintext_len(from, object.len() as u64)?;
        let (header, prefix) = parse_start(name, &object)?;
        let rest = object.get(HEADER_LEN..).ok_or_else(|| truncated(name))?;
        let new_header = self
            .keyring
            .rewrap(&header, &prefix, &self.keyring, Some(to.as_ref()))
            .await
            .map_err(|e| Error::kms(name, e))?;
        let mut out = BytesMut::with_capacity(object.len());
        out.extend_from_slice(&new_header.encode());
        out.extend_from_slice(rest);
        let mode = match options.mode {
            CopyMode::Overwrite => PutMode::Overwrite,
            CopyMode::Create => PutMode::Create,
        };
        let opts = PutOptions {
            mode,
            attributes,
            extensions: options.extensions,
            ..Default::default()
        };
        self.inner
            .put_opts(to, PutPayload::from(out.freeze()), opts)
            .await?;
        self.cache.remove(to);
        Ok(())
    }
}

/// The header and body prefix at the start of the stored object `name`
/// (at least its first `HEADER_LEN + BODY_PREFIX_LEN` bytes), with the name
/// bound into the header checked against `name`.
fn parse_start(name: &str, start: &[u8]) -> Result<(Header, BodyPrefix)> {
    let (header_bytes, rest) = start
        .split_at_checked(HEADER_LEN)
        .ok_or_else(|| truncated(name))?;
    let prefix: &[u8; BODY_PREFIX_LEN] = rest
        .get(..BODY_PREFIX_LEN)
        .and_then(|p| p.try_into().ok())
        .ok_or_else(|| truncated(name))?;
    let header = Header::parse(header_bytes).map_err(|e| Error::format(name, e))?;
    header
        .check_name(name)
        .map_err(|e| Error::format(name, e))?;
    Ok((header, BodyPrefix::from_bytes(prefix)))
}
