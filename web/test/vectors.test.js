// The format's known answers through the JS implementation: every case of
// crates/sealstream-format/tests/vectors/suite{1,2}.txt, every invalid-input file, the
// worked example of docs/FORMAT.md and the key-record vectors of sealstream-kms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseHeader, encodeBound, encodeHeader, layout, objectLen } from '../src/format.js';
import { openObject, sealObject, deriveKeys } from '../src/body.js';
import { wrapX25519, unwrapX25519, fingerprint, parsePublicKey, parseSecretKey, publicKeyText, bindingAad, X25519_LABEL } from '../src/records.js';
import { FormatError } from '../src/errors.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const vecDir = `${root}crates/sealstream-format/tests/vectors/`;
const hex = (s) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b) => Buffer.from(b).toString('hex');
const sha = (b) => createHash('sha256').update(b).digest('hex');
const enc = new TextEncoder();

function loadCases(file) {
  const cases = [];
  let cur = null;
  let suite = null;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = /^\[(.+)\]$/.exec(line);
    if (m) {
      cur = { name: m[1], pairs: [], records: [] };
      cases.push(cur);
      continue;
    }
    const kv = /^(\S+) =(?: (.*))?$/.exec(line);
    assert.ok(kv, `a vector line: ${line}`);
    const k = kv[1];
    const v = kv[2] ?? '';
    if (!cur) {
      if (k === 'suite') suite = Number(v);
      continue;
    }
    if (k === 'context_pair') {
      const i = v.indexOf('=');
      cur.pairs.push([v.slice(0, i), v.slice(i + 1)]);
    } else if (k === 'record') {
      const [p, id, w] = v.split(' ');
      cur.records.push({ provider: p, keyId: id === '""' ? '' : id, wrapped: hex(w) });
    } else {
      cur[k] = v;
    }
  }
  return { suite, cases };
}

function plaintextOf(c) {
  if (c.plaintext !== undefined) return hex(c.plaintext);
  assert.equal(c.plaintext_gen, 'mod251');
  const n = Number(c.plaintext_len);
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = i % 251;
  return p;
}

function objectOf(c) {
  const fields = hex(c.header_fields);
  const header = new Uint8Array(4096);
  header.set(fields);
  return header;
}

for (const file of ['suite1.txt', 'suite2.txt']) {
  const { suite, cases } = loadCases(vecDir + file);
  test(`${file}: ${cases.length} known-answer cases open, and sealing reproduces them byte for byte`, async () => {
    assert.ok(cases.length >= 9, 'the vector file has its cases');
    for (const c of cases) {
      const key = hex(c.data_key);
      const salt = hex(c.salt);
      const plaintext = plaintextOf(c);
      // Header: encoding from the inputs gives the stated fields and bound section.
      const bound = encodeBound(suite, c.pairs);
      assert.equal(toHex(bound), c.context, `${c.name}: bound section`);
      const header = encodeHeader(bound, c.name_ ?? '', c.records);
      assert.deepEqual(header, objectOf(c), `${c.name}: header`);
      const parsed = parseHeader(header);
      assert.equal(parsed.suite, suite);
      assert.equal(parsed.name, c.name_ ?? '');
      assert.deepEqual(parsed.context, [...c.pairs].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
      // Body: sealing with the stated salt reproduces it; opening gives the plaintext.
      const object = await sealObject(suite, header, bound, key, salt, plaintext);
      if (c.body !== undefined) {
        assert.equal(toHex(object.subarray(4096)), c.body.replace(/\s+/g, ''), `${c.name}: body`);
      } else {
        assert.equal(object.length - 4096, Number(c.body_len), `${c.name}: body_len`);
        assert.equal(toHex(object.subarray(4096, 4152)), c.body_prefix, `${c.name}: body prefix`);
        assert.equal(toHex(object.subarray(object.length - 16)), c.final_tag, `${c.name}: final tag`);
        assert.equal(sha(object.subarray(4096)), c.body_sha256, `${c.name}: body sha256`);
        assert.equal(sha(object), c.object_sha256, `${c.name}: object sha256`);
      }
      assert.equal(object.length, objectLen(plaintext.length));
      assert.equal(layout(object.length).plaintextLen, plaintext.length);
      const opened = await openObject(object, key);
      assert.deepEqual(opened.plaintext, plaintext, `${c.name}: plaintext`);
    }
  });
}

test('every invalid-input file is rejected with the label it names', async () => {
  const dir = `${vecDir}invalid/`;
  const files = readdirSync(dir).filter((f) => f.endsWith('.hex'));
  assert.ok(files.length >= 50, `found ${files.length} files`);
  const failures = [];
  for (const f of files) {
    const text = readFileSync(dir + f, 'utf8');
    const expect = /^expect = (.+)$/m.exec(text)[1];
    const key = hex(/^data_key = (.+)$/m.exec(text)[1]);
    const obj = hex((text.split(/^object =/m)[1] ?? '').replace(/#.*$/gm, ''));
    try {
      await openObject(obj, key);
      failures.push(`${f}: accepted`);
    } catch (e) {
      if (!(e instanceof FormatError)) {
        failures.push(`${f}: threw ${e} instead of a FormatError`);
        continue;
      }
      const ok = expect.includes('(') ? e.label === expect : e.kind === expect;
      if (!ok) failures.push(`${f}: gave ${e.label} (${e.message}), expected ${expect}`);
      else assert.ok(e.message.length > 10);
    }
  }
  assert.deepEqual(failures, []);
});

test('FORMAT.md worked example: keys, header, records, hello body', async () => {
  const dataKey = Uint8Array.from({ length: 32 }, (_, i) => i);
  const salt = Uint8Array.from({ length: 24 }, (_, i) => 0x40 + i);
  const bound = encodeBound(1, [['app', 'backup']]);
  assert.equal(toHex(bound), '020100010361707000066261636b7570');
  const d = deriveKeys(1, dataKey, salt, bound);
  assert.equal(toHex(d.key), '161cfbdfa011fb10e506a2fb43fb4fc3e52b3ba53ec1544e52f732dd9d65dedb');
  assert.equal(toHex(d.baseNonce), 'b025e6c8af2dc094c044a6f2');
  assert.equal(toHex(d.commitment), 'c1ce2d32aa05d97551f2fd7dc16af9bc46a8a2de0abf875df847e1c2917b26be');
  const d2 = deriveKeys(2, dataKey, salt, encodeBound(2, [['app', 'backup']]));
  assert.equal(toHex(d2.key), '1b9718b1f1955c3a21b45d274fcce097c714d1d481d0cb5295454fd33800e12a');
  assert.equal(toHex(d2.baseNonce), '3ba2b9de68e81a2e3551c4656b378f5b1fe4f7d57dc62603');
  // The x25519 record of the worked example, from its ephemeral secret.
  const sk = Uint8Array.from({ length: 32 }, (_, i) => 0x20 + i);
  const esk = Uint8Array.from({ length: 32 }, (_, i) => 0x60 + i);
  const { x25519 } = await import('@noble/curves/ed25519.js');
  const pk = x25519.getPublicKey(sk);
  assert.equal(toHex(pk), '358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254');
  assert.equal(fingerprint(pk), 'a137c894770fdf79');
  const name = enc.encode('backups/db.tar');
  const rec = wrapX25519(pk, dataKey, bound, salt, name, esk);
  assert.equal(toHex(rec.wrapped), '01675dd574ed7789310b3d2e7681f3790b466c773b1521fecf36577958371ea5'
    + '2fa49340606030d9b65df3546a3fcef6ba828eae724894a086304a36ec128514d986e521d62fa90dea99d3e9d99aa7b0e7');
  assert.deepEqual(unwrapX25519(sk, rec, bound, salt, name), dataKey);
  // Bound to salt and name: another name or salt does not unwrap.
  assert.equal(unwrapX25519(sk, rec, bound, salt, enc.encode('backups/db.tax')), null);
  assert.equal(unwrapX25519(sk, rec, bound, salt.map((b) => b ^ 1), name), null);
});

test('sealstream-kms records.txt: x25519 key text, fingerprint, aad and wrapping', () => {
  const t = readFileSync(`${root}crates/sealstream-kms/tests/vectors/records.txt`, 'utf8');
  const v = Object.fromEntries(t.split('\n').filter((l) => l.includes(' = ')).map((l) => l.split(' = ')));
  const pk = parsePublicKey(v.x25519_public_text);
  assert.equal(toHex(pk), v.x25519_public);
  assert.equal(toHex(parseSecretKey(v.x25519_secret_text)), v.x25519_secret);
  assert.equal(publicKeyText(pk), v.x25519_public_text);
  assert.equal(fingerprint(pk), v.x25519_fingerprint);
  const bound = hex(v.x25519_bound);
  const salt = hex(v.salt);
  const name = enc.encode(v.name);
  assert.equal(toHex(bindingAad(X25519_LABEL, v.x25519_fingerprint, bound, salt, name)), v.x25519_aad);
  const rec = wrapX25519(pk, hex(v.data_key), bound, salt, name, hex(v.x25519_ephemeral_secret));
  assert.equal(toHex(rec.wrapped), v.x25519_wrapped);
  // A damaged key text is refused (its check digits).
  const damaged = v.x25519_public_text.slice(0, -1) + (v.x25519_public_text.endsWith('A') ? 'B' : 'A');
  assert.throws(() => parsePublicKey(damaged), /check digits|base64url/);
});

test('hostile inputs: random byte flips, cuts and appends are refused with a FormatError, never another exception', async () => {
  const { cases } = loadCases(`${vecDir}suite1.txt`);
  const c = cases.find((x) => x.name === 'hello');
  const object = await sealObject(1, objectOf(c), hex(c.context), hex(c.data_key), hex(c.salt), hex(c.plaintext));
  const key = hex(c.data_key);
  let seed = 12345;
  const rnd = (n) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 3000; i++) {
    let bad = object.slice();
    const how = rnd(3);
    if (how === 0) {
      // Flip bytes in the header fields (where the parser looks) or anywhere.
      const flips = 1 + rnd(3);
      for (let f = 0; f < flips; f++) bad[rnd(rnd(2) ? 300 : bad.length)] ^= 1 << rnd(8);
    } else if (how === 1) {
      bad = bad.subarray(0, rnd(bad.length));
    } else {
      const extra = new Uint8Array(1 + rnd(20000));
      const joined = new Uint8Array(bad.length + extra.length);
      joined.set(bad);
      joined.set(extra, bad.length);
      bad = joined;
    }
    try {
      const r = await openObject(bad, key);
      // A flip inside a key record's id or wrapped bytes keeps a valid header (the key block is
      // not covered by the commitment, and a data key given directly needs no record): the
      // plaintext must then be the same.
      assert.deepEqual(r.plaintext, hex(c.plaintext), `mutation ${i} accepted with other plaintext`);
    } catch (e) {
      assert.ok(e instanceof FormatError, `mutation ${i} (${how}): ${e}`);
    }
  }
});
