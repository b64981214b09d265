// Sealing a file in the browser for x25519 recipients and uploading it through a presigned
// multipart plan (made by `sealstream upload-link`). Part n holds plaintext bytes
// [(n-1)*P, n*P) as whole 16 KiB chunks; part 1 also carries the 4096-byte header and the
// 56-byte body prefix; the last part carries the final chunk (empty when the length is a
// multiple of P), the same layout as the Rust pipeline (sealstream-s3 parts.rs).
import { BodyCipher } from './body.js';
import { encodeBound, encodeHeader, encodeName, CHUNK, TAG, SEALED_CHUNK, HEADER_LEN, PREFIX_LEN } from './format.js';
import { parsePublicKey, wrapX25519 } from './records.js';
import { fetchRetry, explainStatus, TransferError } from './remote.js';

function xmlEscape(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * The header and body cipher for one upload. The context is empty (no sealstream:mtime
 * either): `sealstream get` checks the context exactly, and the owner asked for none.
 * @param {{suite: number, name: string, recipients: string[]}} plan
 */
export async function prepareSeal(plan) {
  const pks = plan.recipients.map(parsePublicKey);
  const dataKey = crypto.getRandomValues(new Uint8Array(32));
  const salt = crypto.getRandomValues(new Uint8Array(24));
  const bound = encodeBound(plan.suite, []);
  const nameBytes = encodeName(plan.name);
  const records = pks.map((pk) => wrapX25519(pk, dataKey, bound, salt, nameBytes));
  const header = encodeHeader(bound, plan.name, records);
  const { cipher, prefix } = await BodyCipher.create(plan.suite, dataKey, salt, bound);
  dataKey.fill(0);
  return { header, prefix, cipher };
}

/** The number of parts `size` plaintext bytes take with `partSize`. */
export const partCount = (size, partSize) => Math.max(1, Math.ceil(size / partSize));

/**
 * Seals part `n` (1-based) of a `size`-byte source read with `read(start, end)`.
 */
export async function sealPart(seal, n, size, partSize, read) {
  const count = partCount(size, partSize);
  const start = (n - 1) * partSize;
  const end = Math.min(n * partSize, size);
  const last = n === count;
  const plain = await read(start, end);
  const full = last ? Math.floor((end - start) / CHUNK) : (end - start) / CHUNK;
  const finalLen = last ? (end - start) % CHUNK : 0;
  const lead = n === 1 ? HEADER_LEN + PREFIX_LEN : 0;
  const out = new Uint8Array(lead + full * SEALED_CHUNK + (last ? finalLen + TAG : 0));
  if (n === 1) {
    out.set(seal.header, 0);
    out.set(seal.prefix, HEADER_LEN);
  }
  const first = start / CHUNK;
  const jobs = [];
  for (let j = 0; j < full; j++) {
    jobs.push(seal.cipher.sealChunk(first + j, plain.subarray(j * CHUNK, (j + 1) * CHUNK)).then((c) => out.set(c, lead + j * SEALED_CHUNK)));
  }
  if (last) {
    jobs.push(seal.cipher.sealChunk(first + full, plain.subarray(full * CHUNK)).then((c) => out.set(c, lead + full * SEALED_CHUNK)));
  }
  await Promise.all(jobs);
  plain.fill(0);
  return out;
}

/**
 * Seals `file` (a Blob) for the plan's recipients and uploads it. Any failure aborts the
 * multipart upload through the plan's presigned abort before the error is thrown.
 */
export async function sealUpload(file, plan, { onProgress = () => {}, concurrency = 4, fetchFn = fetch } = {}) {
  const size = file.size;
  if (size > plan.maxSize) {
    throw new TransferError(`this file is ${size} bytes; this upload link takes at most ${plan.maxSize} bytes (ask for a link with a larger --max-size)`);
  }
  const count = partCount(size, plan.partSize);
  if (count > plan.parts.length) {
    throw new TransferError(`this file needs ${count} parts but the link has ${plan.parts.length} (ask for a link with a larger --max-size)`);
  }
  const seal = await prepareSeal(plan);
  const read = async (a, b) => new Uint8Array(await file.slice(a, b).arrayBuffer());
  const etags = new Array(count);
  let sent = 0;
  let nextPart = 1;
  let failed = null;
  const worker = async () => {
    while (!failed && nextPart <= count) {
      const n = nextPart++;
      const body = await sealPart(seal, n, size, plan.partSize, read);
      const what = `uploading part ${n} of ${count}`;
      const resp = await fetchRetry(plan.parts[n - 1], { method: 'PUT', body }, what, 4, fetchFn);
      if (!resp.ok) throw new TransferError(explainStatus(resp.status, what), resp.status);
      const etag = resp.headers.get('ETag');
      if (!etag) {
        throw new TransferError(`${what}: the server's answer shows no ETag to this page: the bucket's CORS rule must expose ETag (see \`sealstream cors\`)`);
      }
      etags[n - 1] = etag;
      sent += Math.min(n * plan.partSize, size) - (n - 1) * plan.partSize;
      onProgress(sent, size);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, () => worker().catch((e) => {
      failed ??= e;
      throw e;
    })));
    let xml = '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">';
    etags.forEach((e, i) => {
      xml += `<Part><ETag>${xmlEscape(e)}</ETag><PartNumber>${i + 1}</PartNumber></Part>`;
    });
    xml += '</CompleteMultipartUpload>';
    const resp = await fetchRetry(plan.complete, { method: 'POST', body: xml, headers: { 'Content-Type': 'application/xml' } }, 'completing the upload', 3, fetchFn);
    const text = await resp.text();
    if (!resp.ok || text.includes('<Error>')) {
      const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? '';
      throw new TransferError(`${explainStatus(resp.status, 'completing the upload')}${code ? ` (${code})` : ''}`, resp.status);
    }
    onProgress(size, size);
    return { parts: count, objectLen: HEADER_LEN + PREFIX_LEN + size + TAG * (Math.floor(size / CHUNK) + 1) };
  } catch (e) {
    try {
      await fetchFn(plan.abort, { method: 'DELETE', referrerPolicy: 'no-referrer', credentials: 'omit' });
    } catch {
      /* the upload expires with its link anyway; the owner can run `sealstream cleanup` */
    }
    throw e;
  }
}
