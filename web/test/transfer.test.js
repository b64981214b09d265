// The page's transfer logic without a browser: openRemote (ranged GETs, final chunk first,
// in-order release of authenticated chunks only) and sealUpload (multipart layout, retries,
// abort on failure) against an in-memory stand-in for S3's HTTP answers. The real server and
// browser are web/test/browser.py's job; this one reaches cases they do not (a length that is
// a multiple of the part size, a server that sends too much, a 5xx to retry).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { encodeBound, encodeHeader, parseHeader, CHUNK } from '../src/format.js';
import { openObject, sealObject } from '../src/body.js';
import { publicKeyText, unwrapX25519 } from '../src/records.js';
import { openRemote } from '../src/remote.js';
import { sealUpload, partCount } from '../src/upload.js';

const MIB = 1024 * 1024;

/** A fake GET server for one object: honours Range like S3 (206 + Content-Range). */
function rangeServer(object, { extra = 0 } = {}) {
  const log = [];
  const fetchFn = async (url, init) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(init.headers.Range);
    const a = Number(m[1]);
    const b = Math.min(Number(m[2]), object.length - 1);
    log.push([a, b]);
    const body = object.slice(a, b + 1 + extra);
    return new Response(body, { status: 206, headers: { 'Content-Range': `bytes ${a}-${b}/${object.length}`, ETag: '"e"' } });
  };
  return { fetchFn, log };
}

function collector() {
  const parts = [];
  const sink = { aborted: null, closed: false };
  sink.write = async (p) => parts.push(p.slice());
  sink.close = async () => { sink.closed = true; };
  sink.abort = async (e) => { sink.aborted = e; };
  sink.bytes = () => Buffer.concat(parts);
  return sink;
}

async function sealed(size, suite = 1) {
  const key = randomBytes(32);
  const bound = encodeBound(suite, []);
  const header = encodeHeader(bound, 'x/y.bin', [{ provider: 'local', keyId: 'k', wrapped: new Uint8Array(61) }]);
  const plaintext = randomBytes(size);
  return { key, plaintext, object: await sealObject(suite, header, bound, key, randomBytes(24), plaintext) };
}

test('openRemote releases every byte, in order, for sizes around chunk and run boundaries', async () => {
  for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 4 * CHUNK, 4 * CHUNK + 3, 9 * CHUNK + 5]) {
    for (const suite of [1, 2]) {
      const { key, plaintext, object } = await sealed(size, suite);
      const { fetchFn } = rangeServer(object);
      const sink = collector();
      let info;
      await openRemote('http://s3/o', key, { fetchFn, segmentChunks: 4, concurrency: 2, start: async (i) => { info = i; return sink; } });
      assert.equal(info.plaintextLen, size);
      assert.equal(info.name, 'x/y.bin');
      assert.ok(sink.closed && !sink.aborted);
      assert.deepEqual(sink.bytes(), Buffer.from(plaintext), `size ${size}, suite ${suite}`);
    }
  }
});

test('openRemote: a tampered chunk stops the download before its plaintext, naming the chunk', async () => {
  const { key, plaintext, object } = await sealed(10 * CHUNK + 9);
  object[4152 + 6 * 16400 + 7] ^= 1;
  const sink = collector();
  await assert.rejects(
    openRemote('http://s3/o', key, { fetchFn: rangeServer(object).fetchFn, segmentChunks: 2, start: async () => sink }),
    (e) => e.label === 'ChunkAuthentication(6)',
  );
  assert.ok(sink.aborted, 'the sink was aborted');
  assert.ok(!sink.closed);
  // Only chunks before the bad one were handed over.
  assert.ok(sink.bytes().length <= 6 * CHUNK);
  assert.deepEqual(sink.bytes(), Buffer.from(plaintext.subarray(0, sink.bytes().length)));
});

test('openRemote: wrong key, truncation and a server sending too much are refused before any release', async () => {
  const { key, object } = await sealed(3 * CHUNK + 1);
  const never = async () => assert.fail('start must not be called');
  await assert.rejects(openRemote('http://s3/o', randomBytes(32), { fetchFn: rangeServer(object).fetchFn, start: never }),
    (e) => e.kind === 'CommitmentMismatch');
  // The final chunk is authenticated before start(): a cut object never starts a download.
  await assert.rejects(openRemote('http://s3/o', key, { fetchFn: rangeServer(object.slice(0, object.length - 1)).fetchFn, start: never }),
    (e) => e.kind === 'ChunkAuthentication' && e.final);
  await assert.rejects(openRemote('http://s3/o', key, { fetchFn: rangeServer(object.slice(0, 4152 + 3 * 16400)).fetchFn, start: never }),
    (e) => e.kind === 'Truncated');
  const big = await sealed(40 * CHUNK);
  const sink = collector();
  await assert.rejects(openRemote('http://s3/o', big.key, { fetchFn: rangeServer(big.object, { extra: 1 }).fetchFn, segmentChunks: 4, start: async () => sink }),
    (e) => e.kind === 'TrailingData');
});

/** A fake multipart target: collects parts by URL, answers ETags, assembles on completion. */
function multipartServer(plan, { failFirstPut = false } = {}) {
  const parts = new Map();
  const state = { completed: null, aborted: false, puts: 0 };
  let failed = !failFirstPut;
  const fetchFn = async (url, init) => {
    if (init.method === 'PUT') {
      state.puts++;
      if (!failed) {
        failed = true;
        return new Response('slow down', { status: 503 });
      }
      const n = plan.parts.indexOf(url) + 1;
      assert.ok(n > 0, 'a presigned part URL');
      parts.set(n, new Uint8Array(init.body));
      return new Response('', { status: 200, headers: { ETag: `"etag-${n}"` } });
    }
    if (init.method === 'POST') {
      const nums = [...init.body.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]));
      state.completed = Buffer.concat(nums.map((n) => parts.get(n)));
      return new Response('<CompleteMultipartUploadResult/>', { status: 200 });
    }
    if (init.method === 'DELETE') {
      state.aborted = true;
      return new Response('', { status: 204 });
    }
    throw new Error(`unexpected ${init.method}`);
  };
  return { fetchFn, state };
}

test('sealUpload: part layout at part-size boundaries, for a recipient who alone can open it', async () => {
  const sk = randomBytes(32);
  const pub = publicKeyText(x25519.getPublicKey(sk));
  const P = 5 * MIB;
  for (const size of [0, 1, P - 1, P, P + 1, 2 * P]) {
    const plan = {
      name: 'in/box.bin', suite: 1, recipients: [pub], partSize: P, maxSize: 3 * P,
      parts: ['http://s3/p1', 'http://s3/p2', 'http://s3/p3'], complete: 'http://s3/c', abort: 'http://s3/a',
    };
    const plaintext = randomBytes(size);
    const { fetchFn, state } = multipartServer(plan, { failFirstPut: true });
    const r = await sealUpload(new Blob([plaintext]), plan, { fetchFn });
    assert.equal(r.parts, partCount(size, P));
    assert.ok(!state.aborted);
    const obj = new Uint8Array(state.completed);
    const h = parseHeader(obj);
    assert.equal(h.name, 'in/box.bin');
    const dk = unwrapX25519(sk, h.records[0], h.bound, obj.subarray(4096, 4120), h.nameBytes);
    assert.ok(dk, 'the recipient unwraps the data key');
    assert.deepEqual(Buffer.from((await openObject(obj, dk)).plaintext), Buffer.from(plaintext), `size ${size}`);
  }
});

test('sealUpload: a file too large for the link is refused before anything is sent; a failed part aborts', async () => {
  const pub = publicKeyText(x25519.getPublicKey(randomBytes(32)));
  const plan = { name: 'n', suite: 1, recipients: [pub], partSize: 5 * MIB, maxSize: 5 * MIB, parts: ['http://s3/p1'], complete: 'http://s3/c', abort: 'http://s3/a' };
  const { fetchFn, state } = multipartServer(plan);
  await assert.rejects(sealUpload(new Blob([new Uint8Array(5 * MIB + 1)]), plan, { fetchFn }), /at most/);
  assert.equal(state.puts, 0);
  const refusing = async (url, init) => (init.method === 'DELETE' ? (state.aborted = true, new Response('')) : new Response('', { status: 403 }));
  await assert.rejects(sealUpload(new Blob([new Uint8Array(10)]), plan, { fetchFn: refusing }), /403|expired/);
  assert.ok(state.aborted, 'the upload was aborted');
});
