// Interop with the Rust CLI (an implementation this code shares nothing with): an object
// sealed here opens with `sealstream decrypt`, and one sealed by `sealstream encrypt` opens
// here, both for an x25519 recipient, both suites, at the sizes where chunking changes.
// Needs SEALSTREAM_CLI (the built binary; scripts/web-test sets it); skipped without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseHeader, encodeBound, encodeHeader } from '../src/format.js';
import { openObject, sealObject } from '../src/body.js';
import { parsePublicKey, parseSecretKey, wrapX25519, unwrapX25519 } from '../src/records.js';

const cli = process.env.SEALSTREAM_CLI;
const SIZES = [0, 1, 16383, 16384, 16385, 3 * 16384 + 7];

test('JS and the sealstream CLI open each other\'s objects', { skip: !cli && 'SEALSTREAM_CLI is not set' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealstream-interop-'));
  const env = { ...process.env, HOME: dir };
  const run = (...args) => execFileSync(cli, ['-q', ...args], { env, encoding: 'utf8' });
  try {
    const id = join(dir, 'id');
    const pubText = run('keygen', '--x25519', '-o', id).trim().split('\n').pop().trim();
    const pk = parsePublicKey(pubText);
    const secretLine = readFileSync(id, 'utf8').split('\n').find((l) => l.startsWith('sealstream-x25519-secret1:'));
    const sk = parseSecretKey(secretLine);
    for (const suite of [1, 2]) {
      for (const size of SIZES) {
        const plaintext = randomBytes(size);
        // JS seals, the CLI opens.
        const dataKey = randomBytes(32);
        const salt = randomBytes(24);
        const bound = encodeBound(suite, []);
        const header = encodeHeader(bound, '', [wrapX25519(pk, dataKey, bound, salt, new Uint8Array(0))]);
        const sealed = await sealObject(suite, header, bound, dataKey, salt, plaintext);
        writeFileSync(join(dir, 'js.sealed'), sealed);
        run('decrypt', join(dir, 'js.sealed'), '-o', join(dir, 'js.out'), '--identity', id, '--force');
        assert.deepEqual(readFileSync(join(dir, 'js.out')), Buffer.from(plaintext), `suite ${suite}, ${size} bytes: CLI opens JS`);
        // The CLI seals, JS opens.
        writeFileSync(join(dir, 'plain'), plaintext);
        const suiteArg = suite === 1 ? 'aes-256-gcm' : 'xchacha20-poly1305';
        run('encrypt', join(dir, 'plain'), '-o', join(dir, 'cli.sealed'), '--recipient', pubText, '--suite', suiteArg, '--force');
        const obj = new Uint8Array(readFileSync(join(dir, 'cli.sealed')));
        const h = parseHeader(obj);
        assert.equal(h.suite, suite);
        const rec = h.records.find((r) => r.provider === 'x25519');
        const key = unwrapX25519(sk, rec, h.bound, obj.subarray(4096, 4120), h.nameBytes);
        assert.ok(key, `suite ${suite}, ${size} bytes: the CLI's x25519 record unwraps here`);
        const opened = await openObject(obj, key);
        assert.deepEqual(Buffer.from(opened.plaintext), Buffer.from(plaintext), `suite ${suite}, ${size} bytes: JS opens CLI`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
