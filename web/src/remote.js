// Opening an object over HTTP with ranged GETs (a share link's presigned URL): header and
// first chunks in one request, the commitment checked, the final chunk authenticated before
// the length is reported (FORMAT.md, "Reading", random access), then runs of chunks fetched
// with bounded concurrency and handed to the sink in order, each only after it authenticated.
import { FormatError } from './errors.js';
import { BodyCipher } from './body.js';
import { parseHeader, layout, chunkOffset, HEADER_LEN, SALT_LEN, PREFIX_LEN, BODY_START, SEALED_CHUNK, CHUNK } from './format.js';

export class TransferError extends Error {
  constructor(msg, status) {
    super(msg);
    this.name = 'TransferError';
    this.status = status;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** What an HTTP status means for someone holding a link. */
export function explainStatus(status, what) {
  if (status === 403) return `${what}: refused by the server (403): the link has expired, or it was made for another server or bucket`;
  if (status === 404) return `${what}: not found (404): the object was deleted or moved`;
  if (status === 412) return `${what}: the object changed while it was being read (412); open the link again`;
  return `${what}: the server answered ${status}`;
}

/** fetch with up to `attempts` tries on network errors and 5xx answers. */
export async function fetchRetry(url, init, what, attempts = 3, fetchFn = fetch) {
  for (let a = 1; ; a++) {
    let resp;
    try {
      resp = await fetchFn(url, { ...init, referrerPolicy: 'no-referrer', credentials: 'omit', cache: 'no-store' });
    } catch (e) {
      if (a >= attempts) {
        throw new TransferError(`${what}: the request failed (${e.message}); the server may be unreachable, or its CORS rule does not allow this page (see \`sealstream cors\`)`);
      }
      await sleep(200 * 2 ** a);
      continue;
    }
    if (resp.status >= 500 && a < attempts) {
      await sleep(200 * 2 ** a);
      continue;
    }
    return resp;
  }
}

async function getRange(url, start, end, etag, fetchFn) {
  const headers = { Range: `bytes=${start}-${end - 1}` };
  if (etag) headers['If-Match'] = etag;
  const what = `reading bytes ${start}-${end - 1}`;
  const resp = await fetchRetry(url, { headers }, what, 3, fetchFn);
  if (resp.status !== 206) throw new TransferError(explainStatus(resp.status, what), resp.status);
  const body = new Uint8Array(await resp.arrayBuffer());
  if (body.length > end - start) {
    throw new FormatError('TrailingData', `trailing data: the server sent ${body.length} bytes for a range of ${end - start}`);
  }
  if (body.length < end - start) {
    throw new FormatError('Truncated', `truncated: the server sent ${body.length} bytes for a range of ${end - start}; try again`);
  }
  return body;
}

/**
 * Opens the object at `url` with `dataKey`.
 * @param {object} o
 * @param {(info: {name: string, plaintextLen: number, suite: number, context: [string,string][]}) => Promise<object>} o.start
 *   called once the header, commitment and final chunk are verified; returns the sink
 *   {write(Uint8Array): Promise, close(): Promise, abort(err)}.
 * @param {(done: number, total: number) => void} [o.onProgress]
 */
export async function openRemote(url, dataKey, { start, onProgress = () => {}, concurrency = 4, segmentChunks = 512, fetchFn = fetch }) {
  const segBytes = segmentChunks * SEALED_CHUNK;
  const firstEnd = BODY_START + segBytes;
  const first = await fetchRetry(url, { headers: { Range: `bytes=0-${firstEnd - 1}` } }, 'reading the object', 3, fetchFn);
  if (first.status === 416) throw new FormatError('Truncated', 'truncated: the object is empty (0 bytes), not a sealstream object');
  if (first.status !== 206 && first.status !== 200) throw new TransferError(explainStatus(first.status, 'reading the object'), first.status);
  let total;
  const cr = first.headers.get('Content-Range');
  const head = new Uint8Array(await first.arrayBuffer());
  if (first.status === 206) {
    const m = cr && /^bytes 0-(\d+)\/(\d+)$/.exec(cr);
    if (!m) {
      throw new TransferError('the server did not say how long the object is (no Content-Range visible to this page): the bucket\'s CORS rule must expose Content-Range (see `sealstream cors`)');
    }
    total = Number(m[2]);
    const want = Number(m[1]) + 1;
    if (head.length > want) throw new FormatError('TrailingData', `trailing data: the server sent ${head.length} bytes for a range of ${want}`);
    if (head.length < want) throw new FormatError('Truncated', 'truncated: the first response was cut short; try again');
  } else {
    total = head.length; // the server ignored Range: this is the whole object
  }
  const etag = first.headers.get('ETag');
  const header = parseHeader(head);
  if (head.length < HEADER_LEN + PREFIX_LEN) throw new FormatError('Truncated', `truncated: the object is ${total} bytes, it ends inside the salt or commitment`);
  const salt = head.subarray(HEADER_LEN, HEADER_LEN + SALT_LEN);
  const cipher = await BodyCipher.open(header.suite, dataKey, salt, head.subarray(HEADER_LEN + SALT_LEN, BODY_START), header.bound);
  const { k, f, plaintextLen } = layout(total);
  const bytesOf = (j, buf, bufStart) => buf.subarray(chunkOffset(j) - bufStart, chunkOffset(j) - bufStart + (j < k ? SEALED_CHUNK : f));
  // Final chunk first: the length is untrusted until it authenticates.
  const finalSealed = chunkOffset(k) + f <= head.length ? bytesOf(k, head, 0) : await getRange(url, chunkOffset(k), total, etag, fetchFn);
  const finalPlain = await cipher.openChunk(k, finalSealed, true);
  const sink = await start({ name: header.name, plaintextLen, suite: header.suite, context: header.context });
  try {
    const segments = Math.ceil((k + 1) / segmentChunks);
    const fetchSeg = async (s) => {
      const c0 = s * segmentChunks;
      const c1 = Math.min(c0 + segmentChunks, k + 1) - 1; // inclusive
      const lastFull = Math.min(c1, k - 1);
      if (lastFull < c0) return { c0, plain: [] };
      const a = chunkOffset(c0);
      const b = chunkOffset(lastFull) + SEALED_CHUNK;
      const buf = b <= head.length ? head.subarray(a, b) : await getRange(url, a, b, etag, fetchFn);
      // One buffer per run: the sink gets a few large writes instead of one per chunk.
      const out = new Uint8Array((lastFull - c0 + 1) * CHUNK);
      const opens = [];
      for (let j = c0; j <= lastFull; j++) {
        opens.push(cipher.openChunk(j, bytesOf(j, buf, a), false).then((p) => out.set(p, (j - c0) * CHUNK)));
      }
      await Promise.all(opens);
      return { c0, plain: [out] };
    };
    const window = [];
    let next = 0;
    let done = 0;
    // Requests ahead of the one awaited may fail first: mark them handled, the error
    // surfaces when their turn comes.
    const launch = () => {
      const p = fetchSeg(next++);
      p.catch(() => {});
      window.push(p);
    };
    while (next < segments && window.length < concurrency) launch();
    while (window.length > 0) {
      const { plain } = await window.shift();
      if (next < segments) launch();
      for (const p of plain) {
        await sink.write(p);
        done += p.length;
      }
      onProgress(done, plaintextLen);
    }
    if (finalPlain.length > 0) await sink.write(finalPlain);
    onProgress(plaintextLen, plaintextLen);
    await sink.close();
  } catch (e) {
    // Let pending requests settle quietly; the sink is told first.
    try {
      await sink.abort(e);
    } catch {
      /* the sink's own failure is secondary */
    }
    throw e;
  }
  return { name: header.name, plaintextLen };
}
