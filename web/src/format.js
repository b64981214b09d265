// The header of docs/FORMAT.md, version 2: parse with every check "Reading" steps 1-6
// require, encode canonically for writers ("Writing" steps 1-5), and the lengths of
// "Lengths and offsets".
import { FormatError, malformed, limit, truncated } from './errors.js';

export const MAGIC = Uint8Array.of(0x89, 0x53, 0x4c, 0x53, 0x0d, 0x0a, 0x1a, 0x0a);
export const HEADER_LEN = 4096;
export const VERSION = 2;
export const SALT_LEN = 24;
export const COMMITMENT_LEN = 32;
export const PREFIX_LEN = SALT_LEN + COMMITMENT_LEN; // 56
export const BODY_START = HEADER_LEN + PREFIX_LEN; // 4152
export const CHUNK = 16384;
export const TAG = 16;
export const SEALED_CHUNK = CHUNK + TAG; // 16400
export const MAX_CHUNKS = 2 ** 38; // the final chunk's index is at most 2^38 - 1

/** Suite table of FORMAT.md, "Suites". */
export const SUITES = {
  1: { id: 1, name: 'Cobblestone-256', aead: 'AEAD_AES_256_GCM', nonceLen: 12 },
  2: { id: 2, name: 'sealstream XChaCha20-Poly1305', aead: 'AEAD_XCHACHA20_POLY1305', nonceLen: 24 },
};

const LIMITS = {
  contextCount: 64, keyLen: 128, valueLen: 1024, nameLen: 1024,
  recordCount: 32, providerLen: 32, keyIdLen: 2048, wrappedLen: 8192,
};

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const enc = new TextEncoder();

function decodeUtf8(bytes, field) {
  try {
    return utf8.decode(bytes);
  } catch {
    throw malformed(field, 'not valid UTF-8');
  }
}

/** Whether `s` holds a control character (Unicode Cc: U+0000..U+001F, U+007F..U+009F). */
export function hasControl(s) {
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/** Provider id rule: ASCII, first byte a-z, others a-z 0-9 - . */
export function validProvider(p) {
  return /^[a-z][a-z0-9.-]*$/.test(p);
}

const RESERVED = 'sealstream:';
const MODE_KEY = 'sealstream:mode';
const MTIME_KEY = 'sealstream:mtime';

function checkFileMetadata(key, value) {
  if (key === MODE_KEY) {
    if (!/^[0-7]{4}$/.test(value)) throw malformed(MODE_KEY, `"${value}" is not 4 octal digits`);
  } else if (key === MTIME_KEY) {
    const m = /^(-?(?:0|[1-9][0-9]*))\.([0-9]{9})$/.exec(value);
    const bad = () => malformed(MTIME_KEY, `"${value}" is not SECONDS.NANOS (9 digits)`);
    if (!m || m[1] === '-0') throw bad();
    const secs = BigInt(m[1]);
    if (secs < -(2n ** 63n) || secs > 2n ** 63n - 1n) throw bad();
  } else if (key.startsWith(RESERVED)) {
    throw malformed('context key', `"${key}" is reserved (only ${MODE_KEY} and ${MTIME_KEY} are defined)`);
  }
}

function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** A bounded cursor over header bytes [14, 4096); every read names its field. */
class Cursor {
  constructor(bytes, pos, end) {
    this.b = bytes;
    this.pos = pos;
    this.end = end;
  }
  take(n, field) {
    if (n > this.end - this.pos) throw malformed(field, 'runs past the end of the header (offset 4096)');
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u8(field) {
    return this.take(1, field)[0];
  }
  u16(field) {
    const x = this.take(2, field);
    return (x[0] << 8) | x[1];
  }
}

/**
 * Parses and validates a header (FORMAT.md, "Reading", steps 1-6) from the first bytes of
 * an object. `bytes` may be shorter than 4096: what is there is checked first, then
 * *truncated* is raised.
 * @param {Uint8Array} bytes
 * @returns {{suite: number, bound: Uint8Array, context: [string,string][], name: string,
 *   nameBytes: Uint8Array, records: {provider: string, keyId: string, wrapped: Uint8Array}[],
 *   fieldsLen: number}}
 */
export function parseHeader(bytes) {
  // Step 1: magic.
  for (let i = 0; i < Math.min(8, bytes.length); i++) {
    if (bytes[i] !== MAGIC[i]) {
      throw new FormatError('NotSealstream', 'not a sealstream object: the first bytes are not the sealstream magic');
    }
  }
  if (bytes.length < 14) throw truncated(`the input ends at byte ${bytes.length}, inside the header`);
  // Step 2: version and suite, before header_len.
  const version = bytes[12];
  if (version !== VERSION) {
    const why = version === 1
      ? 'version 1 was a pre-release format whose key records were not bound to their object; this reader reads version 2 only'
      : 'this reader reads version 2 only';
    throw new FormatError('UnsupportedVersion', `unsupported version ${version}: ${why}`, { value: version });
  }
  const suite = bytes[13];
  if (!SUITES[suite]) throw new FormatError('UnsupportedSuite', `unsupported suite ${suite} (known: 1, 2)`, { value: suite });
  // Step 3: header_len.
  const headerLen = ((bytes[8] << 24) >>> 0) + (bytes[9] << 16) + (bytes[10] << 8) + bytes[11];
  if (headerLen !== HEADER_LEN) throw malformed('header_len', `${headerLen}, must be 4096`);
  if (bytes.length < HEADER_LEN) throw truncated(`the input ends at byte ${bytes.length}, inside the 4096-byte header`);
  const c = new Cursor(bytes, 14, HEADER_LEN);
  // Step 4: bound section.
  const count = c.u16('context_count');
  if (count > LIMITS.contextCount) throw limit('context_count', `${count} pairs, at most 64`);
  const context = [];
  let prevKey = null;
  for (let i = 0; i < count; i++) {
    const keyLen = c.u8('key_len');
    if (keyLen === 0) throw malformed('context key', `pair ${i} has an empty key`);
    if (keyLen > LIMITS.keyLen) throw limit('context key', `${keyLen} bytes, at most 128`);
    const keyBytes = c.take(keyLen, 'context key');
    const key = decodeUtf8(keyBytes, 'context key');
    if (prevKey && compareBytes(keyBytes, prevKey) <= 0) {
      throw malformed('context key', `"${key}" is not strictly after the previous key (keys are sorted, no duplicates)`);
    }
    prevKey = keyBytes;
    if (key.startsWith(RESERVED) && key !== MODE_KEY && key !== MTIME_KEY) checkFileMetadata(key, '');
    const valueLen = c.u16('value_len');
    if (valueLen > LIMITS.valueLen) throw limit('context value', `${valueLen} bytes, at most 1024`);
    const value = decodeUtf8(c.take(valueLen, 'context value'), 'context value');
    checkFileMetadata(key, value);
    context.push([key, value]);
  }
  const boundEnd = c.pos;
  // Step 5: key block.
  const nameLen = c.u16('name_len');
  if (nameLen > LIMITS.nameLen) throw limit('name', `${nameLen} bytes, at most 1024`);
  const nameBytes = c.take(nameLen, 'name');
  const name = decodeUtf8(nameBytes, 'name');
  if (hasControl(name)) throw malformed('name', 'it holds a control character');
  const recordCount = c.u16('record_count');
  if (recordCount === 0) throw malformed('record_count', 'no key records (at least 1)');
  if (recordCount > LIMITS.recordCount) throw limit('record_count', `${recordCount} records, at most 32`);
  const records = [];
  for (let i = 0; i < recordCount; i++) {
    const pLen = c.u8('provider_len');
    if (pLen === 0) throw malformed('provider', `record ${i} has an empty provider id`);
    if (pLen > LIMITS.providerLen) throw limit('provider', `${pLen} bytes, at most 32`);
    const pBytes = c.take(pLen, 'provider');
    const provider = String.fromCharCode(...pBytes);
    if (!validProvider(provider)) throw malformed('provider', `record ${i}: not a provider id (a-z first, then a-z 0-9 - .)`);
    const idLen = c.u16('key_id_len');
    if (idLen > LIMITS.keyIdLen) throw limit('key_id', `${idLen} bytes, at most 2048`);
    const keyId = decodeUtf8(c.take(idLen, 'key_id'), 'key_id');
    const wLen = c.u16('wrapped_len');
    if (wLen === 0) throw malformed('wrapped', `record ${i} has an empty wrapped key`);
    if (wLen > LIMITS.wrappedLen) throw limit('wrapped', `${wLen} bytes, at most 8192`);
    const wrapped = c.take(wLen, 'wrapped').slice();
    records.push({ provider, keyId, wrapped });
  }
  // Step 6: padding.
  const fieldsLen = c.pos;
  for (let i = fieldsLen; i < HEADER_LEN; i++) {
    if (bytes[i] !== 0) throw malformed('padding', `byte ${i} is not zero`);
  }
  return {
    suite, bound: bytes.slice(12, boundEnd), context, name, nameBytes: nameBytes.slice(), records, fieldsLen,
  };
}

function u16(n) {
  return [n >> 8, n & 0xff];
}

/**
 * The bound section (FORMAT.md, "Bound section and context") for a suite and a context
 * given as [key, value] pairs (sorted here; validated as "Writing" step 1 says).
 */
export function encodeBound(suite, pairs = []) {
  if (!SUITES[suite]) throw new FormatError('UnsupportedSuite', `unsupported suite ${suite}`, { value: suite });
  if (pairs.length > LIMITS.contextCount) throw limit('context_count', `${pairs.length} pairs, at most 64`);
  const enc2 = pairs.map(([k, v]) => [enc.encode(k), enc.encode(v), k, v]);
  enc2.sort((a, b) => compareBytes(a[0], b[0]));
  const out = [VERSION, suite, ...u16(pairs.length)];
  for (let i = 0; i < enc2.length; i++) {
    const [kb, vb, k, v] = enc2[i];
    if (kb.length === 0) throw malformed('context key', 'an empty key');
    if (kb.length > LIMITS.keyLen) throw limit('context key', `"${k}" is ${kb.length} bytes, at most 128`);
    if (vb.length > LIMITS.valueLen) throw limit('context value', `the value of "${k}" is ${vb.length} bytes, at most 1024`);
    if (i > 0 && compareBytes(enc2[i - 1][0], kb) === 0) throw malformed('context key', `"${k}" given twice`);
    checkFileMetadata(k, v);
    out.push(kb.length, ...kb, ...u16(vb.length), ...vb);
  }
  return Uint8Array.from(out);
}

/** Validates an object name ("Writing" step 2) and returns its UTF-8 bytes. */
export function encodeName(name) {
  const b = enc.encode(name);
  if (b.length > LIMITS.nameLen) throw limit('name', `${b.length} bytes, at most 1024`);
  if (hasControl(name)) throw malformed('name', 'it holds a control character');
  return b;
}

/**
 * The 4096-byte header: magic, header_len, bound section, key block, zero padding
 * ("Writing" step 5).
 * @param {Uint8Array} bound from encodeBound
 * @param {string} name
 * @param {{provider: string, keyId: string, wrapped: Uint8Array}[]} records
 */
export function encodeHeader(bound, name, records) {
  if (records.length < 1 || records.length > LIMITS.recordCount) throw limit('record_count', `${records.length} records, 1 to 32`);
  const nameBytes = encodeName(name);
  const parts = [MAGIC, Uint8Array.of(0, 0, 0x10, 0), bound, Uint8Array.of(...u16(nameBytes.length)), nameBytes,
    Uint8Array.of(...u16(records.length))];
  for (const r of records) {
    const p = enc.encode(r.provider);
    const id = enc.encode(r.keyId);
    if (!validProvider(r.provider) || p.length > LIMITS.providerLen) throw malformed('provider', `"${r.provider}"`);
    if (id.length > LIMITS.keyIdLen) throw limit('key_id', `${id.length} bytes`);
    if (r.wrapped.length < 1 || r.wrapped.length > LIMITS.wrappedLen) throw limit('wrapped', `${r.wrapped.length} bytes`);
    parts.push(Uint8Array.of(p.length), p, Uint8Array.of(...u16(id.length)), id, Uint8Array.of(...u16(r.wrapped.length)), r.wrapped);
  }
  const need = parts.reduce((n, x) => n + x.length, 0);
  if (need > HEADER_LEN) {
    throw limit('header', `the header fields need ${need} bytes, at most 4096: use fewer recipients`);
  }
  const out = new Uint8Array(HEADER_LEN);
  let o = 0;
  for (const x of parts) {
    out.set(x, o);
    o += x.length;
  }
  return out;
}

/**
 * Lengths and offsets: from the stored object length, the number of full chunks `k`, the
 * final chunk's sealed length `f` and the plaintext length. Raises *truncated* or
 * *limit exceeded* for an invalid length.
 */
export function layout(objectLen) {
  if (!Number.isSafeInteger(objectLen) || objectLen < 0) throw truncated(`object length ${objectLen}`);
  if (objectLen < HEADER_LEN) throw truncated(`the object is ${objectLen} bytes, shorter than its 4096-byte header`);
  if (objectLen < BODY_START) throw truncated(`the object is ${objectLen} bytes: it ends inside the salt or commitment`);
  const n = objectLen - BODY_START;
  const k = Math.floor(n / SEALED_CHUNK);
  const f = n % SEALED_CHUNK;
  if (k > MAX_CHUNKS - 1) throw limit('chunk count', `${k} full chunks, at most 2^38 - 1`);
  if (f === 0 && k >= 1) throw truncated(`the object ends after full chunk ${k - 1}: its final chunk is missing`);
  if (f < TAG) throw truncated(`the object ends inside chunk ${k}, ${f} bytes into it (shorter than a tag)`);
  return { k, f, plaintextLen: k * CHUNK + (f - TAG), chunks: k + 1 };
}

/** The stored length of an object with `plaintextLen` plaintext bytes. */
export function objectLen(plaintextLen) {
  return BODY_START + plaintextLen + TAG * (Math.floor(plaintextLen / CHUNK) + 1);
}

/** Object offset of chunk `j`. */
export function chunkOffset(j) {
  return BODY_START + j * SEALED_CHUNK;
}
