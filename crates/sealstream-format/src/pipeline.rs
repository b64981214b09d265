//! Sealing and opening on many threads, with memory bounded by a fixed
//! number of batches in flight.
//!
//! ```text
//!  streams (seal_stream, open_stream):
//!                     +-----------+
//!  reader  --batches->| worker 1  |--+
//!  thread             | worker 2  |  |   reorder by     +--------+
//!                     |   ...     |  +-- batch index -->| writer |--> dst, in order
//!                     | worker N  |--+                  |(caller)|
//!       ^             +-----------+                     +--------+
//!       +------------- free list of batch buffers <--------+
//!
//!  files (seal_file, open_file): each worker, on its own buffer:
//!     claim batch b -> read_exact_at -> seal/open in place -> wait for turn b -> write
//! ```
//!
//! A batch is [`PipelineOptions::batch_chunks`] consecutive chunks. Batch
//! `b` holds chunks `b * batch_chunks ..`, so a worker knows every chunk's
//! index (and so its nonce) without looking at its neighbours. At most
//! [`PipelineOptions::batches_in_flight`] batch buffers exist at any time,
//! whatever the input size: a reader that runs ahead waits for the writer
//! to hand a buffer back.
//!
//! No data is copied more often than the I/O needs: sealing reads plaintext
//! straight into a batch buffer, seals each chunk in place with its tag kept
//! beside the buffer, and writes ciphertext and tags with one vectored
//! write. Opening reads the sealed batch in one read, opens each chunk in
//! place and writes the plaintext runs with one vectored write.
//!
//! Opening releases plaintext strictly in order and only after each chunk
//! has authenticated. When chunk `i` fails, the plaintext of chunks before
//! `i` has been written, nothing of chunk `i` or after it is, and the error
//! is [`Error::ChunkAuthentication`] with `index: i` (docs/FORMAT.md,
//! "Reading").
//!
//! Sources: [`seal_file`] and [`open_file`] take any [`ReadAt`] (a
//! `std::fs::File`, a byte slice). There is no reader or writer thread:
//! each worker claims the next batch index, reads the batch with a
//! positional read, seals or opens it, waits for its turn and writes it to
//! `dst` itself, so a batch never leaves the core (and cache) that read it
//! and no single thread's copy caps the pipeline. The output therefore
//! must be `Send`. [`seal_stream`] and [`open_stream`] take a `Read`: one
//! reader thread fills batches, workers process them, and the calling
//! thread writes them in order, as drawn above.
//!
//! With `threads: 1` everything runs on the calling thread, batch after
//! batch, and no thread is spawned.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, mpsc};
use std::thread;

use zeroize::Zeroizing;

use crate::chunk::{
    BODY_PREFIX_LEN, BodyPrefix, CHUNK_SIZE, ChunkOpener, ChunkSealer, SEALED_CHUNK_SIZE, TAG_LEN,
};
use crate::codec;
use crate::error::{Error, Result};
use crate::header::{Header, read_full};
use crate::key::{DataKey, Salt};
use crate::layout;
use crate::random_access::ReadAt;

/// The largest accepted [`PipelineOptions::batch_chunks`] (16 MiB batches).
pub const MAX_BATCH_CHUNKS: usize = 1024;

/// [`seal_file`] and [`open_file`] start no more workers than one per this
/// many batches.
const MIN_BATCHES_PER_WORKER: u64 = 4;

/// Tuning for the parallel pipeline.
///
/// Memory held by one pipeline is at most
/// `batches_in_flight * batch_chunks * 16400` bytes, plus tags, whatever
/// the input size ([`seal_file`] and [`open_file`] hold one batch per
/// worker, so `min(threads, batches_in_flight)` batches). The defaults use every core with 512 KiB batches:
/// about 3 MiB on 2 cores, 18 MiB on 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PipelineOptions {
    /// Worker threads that seal or open batches. With more than one,
    /// [`seal_stream`] and [`open_stream`] add one reader thread and the
    /// calling thread writes. With exactly one, the calling thread does
    /// everything in turn and no thread is spawned. [`seal_file`] and
    /// [`open_file`] use at most one worker per 4 batches, so small inputs
    /// run on fewer threads.
    pub threads: usize,
    /// Chunks (of 16 KiB plaintext) per batch, 1..=[`MAX_BATCH_CHUNKS`].
    pub batch_chunks: usize,
    /// Batch buffers that may exist at once. For [`seal_stream`] and
    /// [`open_stream`], fewer than `threads + 2` leaves workers idle; for
    /// [`seal_file`] and [`open_file`] it caps the number of workers.
    pub batches_in_flight: usize,
}

impl Default for PipelineOptions {
    /// One worker per available core (`std::thread::available_parallelism`).
    fn default() -> Self {
        let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Self::with_threads(cores)
    }
}

impl PipelineOptions {
    /// `threads` workers, 32-chunk (512 KiB) batches, and `2 * threads + 2`
    /// batches in flight: enough for every worker to hold one batch while
    /// the writer drains another and the reader fills the next.
    pub fn with_threads(threads: usize) -> Self {
        PipelineOptions {
            threads,
            batch_chunks: 32,
            batches_in_flight: threads.saturating_mul(2).saturating_add(2),
        }
    }

    fn validate(&self) -> Result<()> {
        let reason = if self.threads == 0 {
            "threads must be at least 1"
        } else if self.batch_chunks == 0 || self.batch_chunks > MAX_BATCH_CHUNKS {
            "batch_chunks must be in 1..=1024"
        } else if self.batches_in_flight == 0 {
            "batches_in_flight must be at least 1"
        } else {
            return Ok(());
        };
        Err(Error::InvalidInput {
            what: "pipeline options",
            reason,
        })
    }

    fn batch_chunks_u64(&self) -> u64 {
        self.batch_chunks as u64
    }
}

/// Seals the plaintext in `src` (its whole length, read with positional
/// reads from every worker) into a complete object written to `dst`, under
/// the `salt` the header's key records were bound to. Returns the
/// plaintext length.
///
/// The length is taken once, at the start; `src` must not change while it
/// is sealed (a source that shrinks fails with an I/O error). The object is
/// complete only when this returns `Ok`: on error `dst` holds a prefix that
/// every reader rejects as truncated.
pub fn seal_file<S, W>(
    src: &S,
    dst: W,
    header: &Header,
    data_key: &DataKey,
    salt: Salt,
    opts: &PipelineOptions,
) -> Result<u64>
where
    S: ReadAt + Sync + ?Sized,
    W: Write + Send,
{
    let (cipher, prefix) =
        ChunkSealer::new(header.suite(), data_key, salt, header.bound_section())?;
    seal_file_with(src, dst, header, &cipher, &prefix, opts)
}

/// Seals everything read from `src` until end of input into a complete
/// object written to `dst`, under the `salt` the header's key records were
/// bound to. Returns the plaintext length.
///
/// One thread reads `src` into batch buffers; `opts.threads` workers seal
/// them; the calling thread writes. The object is complete only when this
/// returns `Ok`.
pub fn seal_stream<R, W>(
    src: R,
    dst: W,
    header: &Header,
    data_key: &DataKey,
    salt: Salt,
    opts: &PipelineOptions,
) -> Result<u64>
where
    R: Read + Send,
    W: Write,
{
    let (cipher, prefix) =
        ChunkSealer::new(header.suite(), data_key, salt, header.bound_section())?;
    seal_stream_with(src, dst, header, &cipher, &prefix, opts)
}

/// Opens the whole object in `src` (header included, as parsed into
/// `header` by [`crate::read_header_at`]) and writes its plaintext to `dst`.
/// Returns the plaintext length.
///
/// The header bytes in `src` must be exactly `header.encode()`. The body
/// length is checked before anything is opened, so a truncated or extended
/// object fails before any plaintext is written. Plaintext is written in
/// order and only after its chunk authenticates; see the module docs for
/// what `dst` holds after an error.
pub fn open_file<S, W>(
    src: &S,
    dst: W,
    header: &Header,
    data_key: &DataKey,
    opts: &PipelineOptions,
) -> Result<u64>
where
    S: ReadAt + Sync + ?Sized,
    W: Write + Send,
{
    opts.validate()?;
    let encoded = header.encode();
    let mut found = vec![0u8; encoded.len()];
    read_at(src, &mut found, 0)?;
    if found != encoded {
        return Err(Error::InvalidInput {
            what: "header",
            reason: "it is not the header stored at the start of the source",
        });
    }
    let body_offset = encoded.len() as u64;
    let body_len = src
        .size()?
        .checked_sub(body_offset)
        .ok_or(Error::Truncated {
            detail: "the object ends inside its header",
        })?;
    let mut prefix = [0u8; BODY_PREFIX_LEN];
    read_at(src, &mut prefix, body_offset)?;
    let cipher = ChunkOpener::new(
        header.suite(),
        data_key,
        &BodyPrefix::from_bytes(&prefix),
        header.bound_section(),
    )?;
    let plaintext_len = layout::plaintext_len(body_len)?;
    let final_chunk = layout::final_chunk_index(plaintext_len);
    let batches = (final_chunk + 1).div_ceil(opts.batch_chunks_u64());
    let chunk_bytes = usize::try_from(body_len - BODY_PREFIX_LEN as u64).unwrap_or(usize::MAX);
    let pool = Pool::sized(opts, SEALED_CHUNK_SIZE, false, batches, chunk_bytes);
    let next = AtomicU64::new(0);
    let fill = |batch: &mut Batch| -> Result<()> {
        let first = batch.index * opts.batch_chunks_u64();
        let last = (first + opts.batch_chunks_u64() - 1).min(final_chunk);
        let start = layout::chunk_body_range(first, plaintext_len)?.start;
        let end = layout::chunk_body_range(last, plaintext_len)?.end;
        let len = usize::try_from(end - start).map_err(|_| Error::TooLarge)?;
        batch.last = last == final_chunk;
        batch.len = len;
        let buf = batch
            .slot
            .data
            .get_mut(..len)
            .ok_or(Error::Internal("a batch buffer is shorter than its chunks"))?;
        read_at(src, buf, body_offset + start)
    };
    let written = run_positional(
        opts,
        &pool,
        &next,
        batches,
        fill,
        |b| open_batch(&cipher, opts, b),
        dst,
        emit_plaintext,
    )?;
    debug_assert_eq!(written, plaintext_len);
    Ok(written)
}

/// Opens the body read from `src` (positioned just after the header, for
/// example by [`Header::read_from`]) and writes its plaintext to `dst`.
/// Returns the plaintext length.
///
/// The commitment is checked before any chunk is opened. Plaintext is
/// written in order and only after its chunk authenticates; end of input
/// before the final chunk is [`Error::Truncated`], and the plaintext of the
/// chunks before it has been written (as a streaming reader would have
/// released it).
pub fn open_stream<R, W>(
    mut src: R,
    dst: W,
    header: &Header,
    data_key: &DataKey,
    opts: &PipelineOptions,
) -> Result<u64>
where
    R: Read + Send,
    W: Write,
{
    opts.validate()?;
    let mut prefix = [0u8; BODY_PREFIX_LEN];
    if read_full(&mut src, &mut prefix)? != BODY_PREFIX_LEN {
        return Err(Error::Truncated {
            detail: "the body ends inside its salt and commitment",
        });
    }
    let cipher = ChunkOpener::new(
        header.suite(),
        data_key,
        &BodyPrefix::from_bytes(&prefix),
        header.bound_section(),
    )?;
    let pool = Pool::new(opts, SEALED_CHUNK_SIZE, false);
    run_stream(
        opts,
        &pool,
        src,
        |b| open_batch(&cipher, opts, b),
        dst,
        emit_plaintext,
    )
}

fn seal_file_with<S, W>(
    src: &S,
    mut dst: W,
    header: &Header,
    cipher: &ChunkSealer,
    prefix: &BodyPrefix,
    opts: &PipelineOptions,
) -> Result<u64>
where
    S: ReadAt + Sync + ?Sized,
    W: Write + Send,
{
    opts.validate()?;
    let len = src.size()?;
    layout::body_len(len)?;
    dst.write_all(&header.encode())?;
    dst.write_all(&prefix.to_bytes())?;
    let per_batch = opts.batch_chunks_u64() * CHUNK_SIZE as u64;
    let batches = (layout::final_chunk_index(len) + 1).div_ceil(opts.batch_chunks_u64());
    let pool = Pool::sized(
        opts,
        CHUNK_SIZE,
        true,
        batches,
        usize::try_from(len).unwrap_or(usize::MAX),
    );
    let next = AtomicU64::new(0);
    let fill = |batch: &mut Batch| -> Result<()> {
        let start = batch.index * per_batch;
        let n = per_batch.min(len.saturating_sub(start));
        batch.last = batch.index + 1 == batches;
        batch.len = usize::try_from(n).map_err(|_| Error::TooLarge)?;
        let buf = batch
            .slot
            .data
            .get_mut(..batch.len)
            .ok_or(Error::Internal("a batch buffer is shorter than its chunks"))?;
        read_at(src, buf, start).map_err(|e| match e {
            Error::Truncated { .. } => Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the input shrank while it was being sealed",
            )),
            other => other,
        })
    };
    let written = run_positional(
        opts,
        &pool,
        &next,
        batches,
        fill,
        |b| seal_batch(cipher, opts, b),
        dst,
        emit_sealed,
    )?;
    debug_assert_eq!(written, len);
    Ok(written)
}

fn seal_stream_with<R, W>(
    src: R,
    mut dst: W,
    header: &Header,
    cipher: &ChunkSealer,
    prefix: &BodyPrefix,
    opts: &PipelineOptions,
) -> Result<u64>
where
    R: Read + Send,
    W: Write,
{
    opts.validate()?;
    dst.write_all(&header.encode())?;
    dst.write_all(&prefix.to_bytes())?;
    let pool = Pool::new(opts, CHUNK_SIZE, true);
    run_stream(
        opts,
        &pool,
        src,
        |b| seal_batch(cipher, opts, b),
        dst,
        emit_sealed,
    )
}

fn read_at<S: ReadAt + ?Sized>(src: &S, buf: &mut [u8], offset: u64) -> Result<()> {
    match src.read_exact_at(buf, offset) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(Error::Truncated {
            detail: "the object is shorter than its length said (it changed while being read)",
        }),
        Err(e) => Err(Error::Io(e)),
    }
}

/// A reusable batch buffer: `batch_chunks` chunk slots and their tags.
struct Slot {
    data: Zeroizing<Vec<u8>>,
    tags: Vec<[u8; TAG_LEN]>,
}

/// One batch on its way through the pipeline.
struct Batch {
    index: u64,
    slot: Slot,
    /// Bytes of `slot.data` in use: plaintext when sealing, sealed chunks
    /// when opening.
    len: usize,
    /// Whether the batch ends with the object's final chunk.
    last: bool,
    /// Chunks processed successfully, from the start of the batch.
    done: usize,
    /// Why processing stopped after `done` chunks, if it did.
    error: Option<Error>,
    /// Plaintext bytes in the batch's `done` chunks.
    plain: u64,
}

/// The free list: at most `max` slots ever exist.
struct Pool {
    state: Mutex<PoolState>,
    wake: Condvar,
    max: usize,
    /// Bytes of each slot's buffer: a batch, or less for a small input.
    data_len: usize,
    slots_per_batch: usize,
    with_tags: bool,
}

struct PoolState {
    free: Vec<Slot>,
    allocated: usize,
    cancelled: bool,
}

impl Pool {
    fn new(opts: &PipelineOptions, slot_stride: usize, with_tags: bool) -> Self {
        Self::sized(opts, slot_stride, with_tags, u64::MAX, usize::MAX)
    }

    /// A pool for an input of known size: no more slots than `batches`,
    /// and no slot longer than `data_cap` bytes (what the input needs).
    fn sized(
        opts: &PipelineOptions,
        slot_stride: usize,
        with_tags: bool,
        batches: u64,
        data_cap: usize,
    ) -> Self {
        let max = usize::try_from(batches).map_or(opts.batches_in_flight, |b| {
            opts.batches_in_flight.min(b.max(1))
        });
        Pool {
            state: Mutex::new(PoolState {
                free: Vec::new(),
                allocated: 0,
                cancelled: false,
            }),
            wake: Condvar::new(),
            max,
            data_len: (slot_stride * opts.batch_chunks).min(data_cap),
            slots_per_batch: opts.batch_chunks,
            with_tags,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A panicking thread cancels the pool before it unwinds (see
        // `CancelOnPanic`), so the state behind a poisoned lock is usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A free slot, waiting for one if `max` are in use; `None` once the
    /// pipeline is cancelled.
    fn take(&self) -> Option<Slot> {
        let mut st = self.lock();
        loop {
            if st.cancelled {
                return None;
            }
            if let Some(slot) = st.free.pop() {
                return Some(slot);
            }
            if st.allocated < self.max {
                st.allocated += 1;
                drop(st);
                let tags = if self.with_tags {
                    vec![[0u8; TAG_LEN]; self.slots_per_batch]
                } else {
                    Vec::new()
                };
                return Some(Slot {
                    data: Zeroizing::new(vec![0u8; self.data_len]),
                    tags,
                });
            }
            st = self
                .wake
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn give(&self, slot: Slot) {
        self.lock().free.push(slot);
        self.wake.notify_one();
    }

    fn cancel(&self) {
        self.lock().cancelled = true;
        self.wake.notify_all();
    }

    fn is_cancelled(&self) -> bool {
        self.lock().cancelled
    }
}

/// Cancels the pipeline if the thread holding it unwinds, so that no other
/// thread waits forever for a batch that will never come.
struct CancelOnPanic<'a>(&'a Pool);

impl Drop for CancelOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.cancel();
        }
    }
}

/// Runs a pipeline whose workers fetch their own batches with `fill`
/// (positional reads); batch indices are claimed in order, each only after
/// its worker holds a slot, so the lowest unfinished batch always has one.
#[expect(
    clippy::too_many_arguments,
    reason = "internal; each argument is one stage"
)]
fn run_positional<F, P, W, E>(
    opts: &PipelineOptions,
    pool: &Pool,
    next: &AtomicU64,
    batches: u64,
    fill: F,
    process: P,
    dst: W,
    emit: E,
) -> Result<u64>
where
    F: Fn(&mut Batch) -> Result<()> + Sync,
    P: Fn(&mut Batch) + Sync,
    W: Write + Send,
    E: Fn(&mut W, &Batch) -> io::Result<()> + Sync,
{
    // Each worker keeps one buffer, so there are no more workers than
    // buffers allowed in flight; and each gets at least
    // MIN_BATCHES_PER_WORKER batches, so a small input spawns fewer
    // threads (a thread costs more than it saves on a few batches, the
    // more so on a loaded machine).
    let workers = usize::try_from(batches.div_ceil(MIN_BATCHES_PER_WORKER))
        .map_or(opts.threads, |w| opts.threads.min(w))
        .min(opts.batches_in_flight);
    if workers <= 1 {
        // One thread: read, process and write each batch in turn, with no
        // hand-offs (and so no thread is spawned).
        let mut index = 0u64;
        let one_by_one = || {
            let slot = pool.take().ok_or_else(stopped)?;
            let mut batch = Batch::new(index, slot);
            index += 1;
            match fill(&mut batch) {
                Ok(()) => process(&mut batch),
                Err(e) => batch.error = Some(e),
            }
            Ok(batch)
        };
        return write_in_order(pool, one_by_one, dst, emit);
    }
    let turn = Turn {
        state: Mutex::new(TurnState {
            next: 0,
            dst,
            total: 0,
            error: None,
            finished: false,
        }),
        wake: Condvar::new(),
    };
    let work = || {
        let _guard = FinishOnPanic(&turn);
        let Some(mut slot) = pool.take() else { return };
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            if index >= batches {
                break;
            }
            let mut batch = Batch::new(index, slot);
            match fill(&mut batch) {
                Ok(()) => process(&mut batch),
                Err(e) => batch.error = Some(e),
            }
            // The batch is written by the thread that read and processed
            // it, while its buffer is still in this core's cache; batches
            // are written in index order, each waiting for its turn.
            let mut t = turn.lock();
            while t.next != index && !t.finished {
                t = turn
                    .wake
                    .wait(t)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            if t.finished {
                break;
            }
            let written = emit(&mut t.dst, &batch);
            t.total += batch.plain;
            match (written, batch.error.take()) {
                (Err(e), _) => t.stop(Error::from(e)),
                (Ok(()), Some(e)) => t.stop(e),
                (Ok(()), None) if batch.last => {
                    if let Err(e) = t.dst.flush() {
                        t.stop(Error::from(e));
                    }
                    t.finished = true;
                }
                (Ok(()), None) => {}
            }
            t.next += 1;
            drop(t);
            turn.wake.notify_all();
            slot = batch.slot;
        }
    };
    thread::scope(|s| {
        for _ in 1..workers {
            s.spawn(work);
        }
        work();
    });
    let t = turn
        .state
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match (t.error, t.finished) {
        (Some(e), _) => Err(e),
        (None, true) => Ok(t.total),
        (None, false) => Err(stopped()),
    }
}

/// The writing turn for [`run_positional`]: the output, and which batch
/// may be written next.
struct Turn<W> {
    state: Mutex<TurnState<W>>,
    wake: Condvar,
}

struct TurnState<W> {
    next: u64,
    dst: W,
    total: u64,
    error: Option<Error>,
    /// The final batch was written, or an error stopped the pipeline.
    finished: bool,
}

impl<W> Turn<W> {
    fn lock(&self) -> MutexGuard<'_, TurnState<W>> {
        // Poisoning is handled by `FinishOnPanic`, which stops the run.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<W> TurnState<W> {
    fn stop(&mut self, e: Error) {
        self.error.get_or_insert(e);
        self.finished = true;
    }
}

/// Stops the run if a worker unwinds, so that no other worker waits
/// forever for the turn of a batch that will never be written.
struct FinishOnPanic<'a, W>(&'a Turn<W>);

impl<W> Drop for FinishOnPanic<'_, W> {
    fn drop(&mut self) {
        if thread::panicking() {
            let mut t = self.0.lock();
            t.stop(stopped());
            drop(t);
            self.0.wake.notify_all();
        }
    }
}

/// Runs a pipeline fed by one reader thread over `src`.
fn run_stream<R, P, W, E>(
    opts: &PipelineOptions,
    pool: &Pool,
    mut src: R,
    process: P,
    dst: W,
    emit: E,
) -> Result<u64>
where
    R: Read + Send,
    P: Fn(&mut Batch) + Sync,
    W: Write,
    E: FnMut(&mut W, &Batch) -> io::Result<()>,
{
    let capacity = pool.data_len;
    if opts.threads == 1 {
        // One thread: read, process and write each batch in turn.
        let mut index = 0u64;
        let one_by_one = || {
            let slot = pool.take().ok_or_else(stopped)?;
            let mut batch = read_batch(&mut src, index, slot, capacity);
            index += 1;
            if batch.error.is_none() {
                process(&mut batch);
            }
            Ok(batch)
        };
        return write_in_order(pool, one_by_one, dst, emit);
    }
    let (jobs_tx, jobs_rx) = mpsc::channel::<Batch>();
    let jobs_rx = Mutex::new(jobs_rx);
    let (results_tx, results_rx) = mpsc::channel::<Batch>();
    thread::scope(|s| {
        s.spawn(move || {
            let _guard = CancelOnPanic(pool);
            let mut index = 0u64;
            while let Some(slot) = pool.take() {
                let batch = read_batch(&mut src, index, slot, capacity);
                let last = batch.last;
                if jobs_tx.send(batch).is_err() || last {
                    break;
                }
                index += 1;
            }
        });
        for _ in 0..opts.threads {
            let tx = results_tx.clone();
            let (jobs_rx, process) = (&jobs_rx, &process);
            s.spawn(move || {
                let _guard = CancelOnPanic(pool);
                loop {
                    let job = jobs_rx
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    let Ok(mut batch) = job else { break };
                    if batch.error.is_none() && !pool.is_cancelled() {
                        process(&mut batch);
                    }
                    if tx.send(batch).is_err() {
                        break;
                    }
                }
            });
        }
        drop(results_tx);
        write_in_order(pool, from_workers(&results_rx), dst, emit)
    })
}

/// Reads the next batch of a stream into `slot`; only end of input makes a
/// batch short, and a short batch is the last.
fn read_batch<R: Read>(src: &mut R, index: u64, slot: Slot, capacity: usize) -> Batch {
    let mut batch = Batch::new(index, slot);
    let Some(buf) = batch.slot.data.get_mut(..capacity) else {
        // Never an empty read (that would end the object here, short).
        batch.error = Some(Error::Io(internal(
            "a batch buffer is shorter than a batch",
        )));
        batch.last = true;
        return batch;
    };
    match read_full(src, buf) {
        Ok(n) => {
            batch.len = n;
            batch.last = n < capacity;
        }
        Err(e) => {
            batch.error = Some(e);
            batch.last = true;
        }
    }
    batch
}

impl Batch {
    fn new(index: u64, slot: Slot) -> Self {
        Batch {
            index,
            slot,
            len: 0,
            last: false,
            done: 0,
            error: None,
            plain: 0,
        }
    }
}

fn stopped() -> Error {
    Error::Io(io::Error::other(
        "the pipeline's worker threads stopped before the final chunk",
    ))
}

fn from_workers(results: &mpsc::Receiver<Batch>) -> impl FnMut() -> Result<Batch> + '_ {
    || results.recv().map_err(|_| stopped())
}

/// The writer: takes finished batches from `next_done` (in any order),
/// emits them in index order, hands their slots back, and
/// stops at the batch holding the final chunk or at the first error (after
/// emitting what that batch completed). Cancels the pool on the way out.
fn write_in_order<N, W, E>(pool: &Pool, mut next_done: N, mut dst: W, mut emit: E) -> Result<u64>
where
    N: FnMut() -> Result<Batch>,
    W: Write,
    E: FnMut(&mut W, &Batch) -> io::Result<()>,
{
    let _guard = CancelOnPanic(pool);
    let res = (|| {
        let mut waiting: BTreeMap<u64, Batch> = BTreeMap::new();
        let mut next = 0u64;
        let mut total = 0u64;
        loop {
            let batch = match waiting.remove(&next) {
                Some(b) => b,
                None => {
                    let b = next_done()?;
                    if b.index != next {
                        waiting.insert(b.index, b);
                        continue;
                    }
                    b
                }
            };
            emit(&mut dst, &batch)?;
            total += batch.plain;
            if let Some(e) = batch.error {
                return Err(e);
            }
            let last = batch.last;
            pool.give(batch.slot);
            if last {
                dst.flush()?;
                return Ok(total);
            }
            next += 1;
        }
    })();
    pool.cancel();
    res
}

/// An invariant of the pipeline broke: an error, never a short object.
fn internal(what: &'static str) -> io::Error {
    io::Error::other(format!("internal error in the sealing pipeline: {what}"))
}

fn seal_batch(sealer: &ChunkSealer, opts: &PipelineOptions, batch: &mut Batch) {
    let base = batch.index * opts.batch_chunks_u64();
    let Some(data) = batch.slot.data.get_mut(..batch.len) else {
        batch.error = Some(Error::Io(internal("a batch is longer than its buffer")));
        return;
    };
    match codec::seal_detached(sealer, base, data, batch.last, &mut batch.slot.tags) {
        Ok(count) => {
            batch.done = count;
            batch.plain = batch.len as u64;
        }
        Err(e) => batch.error = Some(e),
    }
}

fn emit_sealed<W: Write>(dst: &mut W, batch: &Batch) -> io::Result<()> {
    let data = batch
        .slot
        .data
        .get(..batch.len)
        .ok_or_else(|| internal("a batch is longer than its buffer"))?;
    let tags = batch
        .slot
        .tags
        .get(..batch.done)
        .ok_or_else(|| internal("a batch has fewer tags than chunks"))?;
    let mut slices = Vec::with_capacity(2 * batch.done);
    // Chunk j is data[j * 16384..] (the final one shorter, possibly
    // empty); `done` counts the final chunk too.
    let mut chunks = data.chunks(CHUNK_SIZE);
    for tag in tags {
        slices.push(IoSlice::new(chunks.next().unwrap_or(&[])));
        slices.push(IoSlice::new(tag));
    }
    if batch.error.is_none() && chunks.next().is_some() {
        return Err(internal("a batch has chunks without tags"));
    }
    write_all_vectored(dst, &mut slices)
}

fn open_batch(opener: &ChunkOpener, opts: &PipelineOptions, batch: &mut Batch) {
    let base = batch.index * opts.batch_chunks_u64();
    let Some(data) = batch.slot.data.get_mut(..batch.len) else {
        batch.error = Some(Error::Io(internal("a batch is longer than its buffer")));
        return;
    };
    // Chunk by chunk, so that what authenticated before a damaged chunk is
    // still released in order, as a streaming reader would.
    let (done, result) = codec::open_prefix(opener, base, data, batch.last);
    batch.done = done.chunks;
    batch.plain = done.plaintext;
    if let Err(e) = result {
        batch.error = Some(e);
    }
}

fn emit_plaintext<W: Write>(dst: &mut W, batch: &Batch) -> io::Result<()> {
    let data = batch
        .slot
        .data
        .get(..batch.len)
        .ok_or_else(|| internal("a batch is longer than its buffer"))?;
    let mut slices: Vec<IoSlice<'_>> = data
        .chunks(SEALED_CHUNK_SIZE)
        .take(batch.done)
        .map(|c| IoSlice::new(c.get(..c.len().saturating_sub(TAG_LEN)).unwrap_or(&[])))
        .collect();
    write_all_vectored(dst, &mut slices)
}

fn write_all_vectored<W: Write>(dst: &mut W, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match dst.write_vectored(bufs) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}
