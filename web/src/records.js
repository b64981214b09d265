// x25519 key records of docs/FORMAT.md, "Key records": the binding AAD, wrapping for a
// recipient's public key (what a browser upload needs) and unwrapping (for tests), and
// the recipient key text. X25519, SHA-256, HKDF-SHA256 and ChaCha20-Poly1305 come from
// @noble (constant-time implementations; the same code in every browser and in node).
import { x25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { SALT_LEN } from './format.js';
import { b64urlDecode, b64urlEncode } from './share.js';

const enc = new TextEncoder();
export const X25519_LABEL = 'sealstream x25519 wrap v2';
const PUB_PREFIX = 'sealstream-x25519-pub1:';
const SECRET_PREFIX = 'sealstream-x25519-secret1:';

const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const u16 = (n) => Uint8Array.of(n >> 8, n & 0xff);

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The binding AAD of FORMAT.md, "Binding". */
export function bindingAad(label, keyId, bound, salt, nameBytes) {
  if (salt.length !== SALT_LEN) throw new TypeError('a salt is 24 bytes');
  const id = enc.encode(keyId);
  return concat(enc.encode(label), Uint8Array.of(0), u16(id.length), id, u16(bound.length), bound, salt,
    u16(nameBytes.length), nameBytes);
}

/** The recipient fingerprint: 16 hex digits of SHA-256("sealstream x25519 fingerprint v1" || 0x00 || pk). */
export function fingerprint(pk) {
  return hex(sha256(concat(enc.encode('sealstream x25519 fingerprint v1'), Uint8Array.of(0), pk)).subarray(0, 8));
}

function parseKeyText(text, prefix, what) {
  const t = text.trim();
  if (!t.startsWith(prefix)) throw new Error(`not a ${what}: it must start with ${prefix}`);
  const rest = t.slice(prefix.length);
  if (!/^[A-Za-z0-9_-]{48}$/.test(rest)) throw new Error(`not a ${what}: ${prefix} must be followed by exactly 48 base64url characters`);
  const raw = b64urlDecode(rest);
  const key = raw.subarray(0, 32);
  const check = sha256(concat(enc.encode(prefix), key)).subarray(0, 4);
  for (let i = 0; i < 4; i++) {
    if (raw[32 + i] !== check[i]) throw new Error(`not a ${what}: its check digits do not match (a typo?)`);
  }
  return key.slice();
}

/** Parses `sealstream-x25519-pub1:...` (FORMAT.md, "Key text"). */
export const parsePublicKey = (text) => parseKeyText(text, PUB_PREFIX, 'sealstream X25519 public key');
/** Parses `sealstream-x25519-secret1:...`. */
export const parseSecretKey = (text) => parseKeyText(text, SECRET_PREFIX, 'sealstream X25519 secret key');

/** The text form of a public key. */
export function publicKeyText(pk) {
  return PUB_PREFIX + b64urlEncode(concat(pk, sha256(concat(enc.encode(PUB_PREFIX), pk)).subarray(0, 4)));
}

function wrapKey(shared, epk, pk) {
  if (shared.every((b) => b === 0)) throw new Error('the recipient key is a low-order point (all-zero shared secret): refused');
  return hkdf(sha256, shared, concat(epk, pk), enc.encode(X25519_LABEL), 32);
}

/**
 * An x25519 record wrapping `dataKey` for the recipient `pk`, bound to the bound section,
 * salt and name. `esk` is for known-answer tests only; otherwise it is fresh and random.
 */
export function wrapX25519(pk, dataKey, bound, salt, nameBytes, esk = crypto.getRandomValues(new Uint8Array(32))) {
  const epk = x25519.getPublicKey(esk);
  const shared = x25519.getSharedSecret(esk, pk);
  const key = wrapKey(shared, epk, pk);
  const keyId = fingerprint(pk);
  const aad = bindingAad(X25519_LABEL, keyId, bound, salt, nameBytes);
  const sealed = chacha20poly1305(key, new Uint8Array(12), aad).encrypt(dataKey);
  esk.fill(0);
  key.fill(0);
  return { provider: 'x25519', keyId, wrapped: concat(Uint8Array.of(1), epk, sealed) };
}

/** Unwraps an x25519 record with the secret key `sk`; null when it is unusable or does not open. */
export function unwrapX25519(sk, record, bound, salt, nameBytes) {
  if (record.provider !== 'x25519' || record.wrapped.length !== 81 || record.wrapped[0] !== 1) return null;
  const pk = x25519.getPublicKey(sk);
  if (record.keyId !== fingerprint(pk)) return null;
  const epk = record.wrapped.subarray(1, 33);
  let key;
  try {
    key = wrapKey(x25519.getSharedSecret(sk, epk), epk, pk);
  } catch {
    return null;
  }
  const aad = bindingAad(X25519_LABEL, record.keyId, bound, salt, nameBytes);
  try {
    const dk = chacha20poly1305(key, new Uint8Array(12), aad).decrypt(record.wrapped.subarray(33));
    return dk.length === 32 ? dk : null;
  } catch {
    return null;
  } finally {
    key.fill(0);
  }
}
