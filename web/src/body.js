// The body of docs/FORMAT.md: C2SP chunked encryption v1 with HKDF-Expand-SHA-512 ("Key
// derivation"), 16 KiB chunks ("Chunking"), nonce_i = base_nonce XOR i ("Nonces and AEAD").
// Suite 1 uses WebCrypto's AES-256-GCM; suite 2 @noble/ciphers' XChaCha20-Poly1305.
// WebCrypto's HKDF always applies Extract, so HKDF-Expand is written here over
// @noble/hashes' HMAC-SHA-512 (its own `expand` refuses a PRK shorter than the hash
// output, and the data key is 32 bytes).
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { FormatError } from './errors.js';
import {
  SUITES, SALT_LEN, COMMITMENT_LEN, PREFIX_LEN, CHUNK, TAG, SEALED_CHUNK, MAX_CHUNKS, HEADER_LEN,
  parseHeader, layout, chunkOffset,
} from './format.js';

const enc = new TextEncoder();
const subtle = globalThis.crypto.subtle;

/** RFC 5869 HKDF-Expand with SHA-512, no Extract (FORMAT.md, "Key derivation"); L <= 128. */
export function hkdfExpandSha512(prk, info, len) {
  const out = new Uint8Array(len);
  let t = new Uint8Array(0);
  for (let i = 1, o = 0; o < len; i++) {
    const msg = new Uint8Array(t.length + info.length + 1);
    msg.set(t, 0);
    msg.set(info, t.length);
    msg[msg.length - 1] = i;
    t = hmac(sha512, prk, msg);
    out.set(t.subarray(0, Math.min(64, len - o)), o);
    o += 64;
  }
  return out;
}

/** key, base_nonce, commitment of "Key derivation". */
export function deriveKeys(suite, dataKey, salt, bound) {
  const s = SUITES[suite];
  if (!s) throw new FormatError('UnsupportedSuite', `unsupported suite ${suite}`, { value: suite });
  if (dataKey.length !== 32) throw new TypeError('a data key is 32 bytes');
  if (salt.length !== SALT_LEN) throw new TypeError('a salt is 24 bytes');
  const label = enc.encode(`c2sp.org/chunked-encryption@v1+${s.aead}`);
  const info = new Uint8Array(label.length + 1 + SALT_LEN + bound.length);
  info.set(label, 0);
  info.set(salt, label.length + 1);
  info.set(bound, label.length + 1 + SALT_LEN);
  const okm = hkdfExpandSha512(dataKey, info, 32 + s.nonceLen + 32);
  return {
    key: okm.slice(0, 32),
    baseNonce: okm.slice(32, 32 + s.nonceLen),
    commitment: okm.slice(32 + s.nonceLen),
  };
}

/** Constant-time equality of two byte strings of equal length (FORMAT.md, "Commitment compare"). */
export function ctEqual(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

function nonceFor(base, i) {
  if (!Number.isSafeInteger(i) || i < 0 || i >= MAX_CHUNKS) {
    throw new FormatError('LimitExceeded', `limit exceeded (chunk count): chunk index ${i}`, { field: 'chunk count' });
  }
  const n = base.slice();
  let x = i;
  for (let j = n.length - 1; x > 0 && j >= 0; j--) {
    n[j] ^= x % 256;
    x = Math.floor(x / 256);
  }
  return n;
}

/** Seals and opens the chunks of one body; made by `BodyCipher.create` or `BodyCipher.open`. */
export class BodyCipher {
  #suite;
  #keyBytes;
  #aesKey;
  #baseNonce;

  constructor(suite, keyBytes, aesKey, baseNonce) {
    this.#suite = suite;
    this.#keyBytes = keyBytes;
    this.#aesKey = aesKey;
    this.#baseNonce = baseNonce;
  }

  static async #make(suite, derived) {
    const aes = suite === 1
      ? await subtle.importKey('raw', derived.key, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt'])
      : null;
    return new BodyCipher(suite, suite === 1 ? null : derived.key, aes, derived.baseNonce);
  }

  /**
   * For a reader: derives the keys and checks the stored commitment in constant time
   * before any chunk can be opened (FORMAT.md, "Reading", step 8).
   */
  static async open(suite, dataKey, salt, storedCommitment, bound) {
    const d = deriveKeys(suite, dataKey, salt, bound);
    if (!ctEqual(d.commitment, storedCommitment)) {
      throw new FormatError('CommitmentMismatch',
        'commitment mismatch: this key does not open this object (a wrong key, or the object\'s header or salt was modified)');
    }
    return BodyCipher.#make(suite, d);
  }

  /** For a writer: the cipher and the 56-byte body prefix salt || commitment. */
  static async create(suite, dataKey, salt, bound) {
    const d = deriveKeys(suite, dataKey, salt, bound);
    const prefix = new Uint8Array(PREFIX_LEN);
    prefix.set(salt, 0);
    prefix.set(d.commitment, SALT_LEN);
    return { cipher: await BodyCipher.#make(suite, d), prefix };
  }

  /**
   * Opens chunk `i` (`sealed` = ciphertext || tag). Returns its plaintext only after the tag
   * verified. `isFinal` says whether the caller expects it to be the final chunk: a final chunk
   * is 16..16399 bytes, a non-final one exactly 16400.
   */
  async openChunk(i, sealed, isFinal) {
    const bad = () => new FormatError('ChunkAuthentication',
      `chunk ${i}${isFinal ? ' (the final chunk)' : ''} failed authentication: the object was modified or corrupted, or it is truncated`,
      { chunk: i, final: isFinal });
    if (isFinal ? sealed.length < TAG || sealed.length >= SEALED_CHUNK : sealed.length !== SEALED_CHUNK) throw bad();
    const nonce = nonceFor(this.#baseNonce, i);
    if (this.#suite === 1) {
      try {
        return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: nonce, tagLength: 128 }, this.#aesKey, sealed));
      } catch {
        throw bad();
      }
    }
    try {
      return xchacha20poly1305(this.#keyBytes, nonce).decrypt(sealed);
    } catch {
      throw bad();
    }
  }

  /** Seals chunk `i`: a full chunk (16384 bytes, never final) or the final chunk (0..16383). */
  async sealChunk(i, plaintext) {
    if (plaintext.length > CHUNK) throw new RangeError('a chunk holds at most 16384 bytes');
    const nonce = nonceFor(this.#baseNonce, i);
    if (this.#suite === 1) {
      return new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce, tagLength: 128 }, this.#aesKey, plaintext));
    }
    return xchacha20poly1305(this.#keyBytes, nonce).encrypt(plaintext);
  }
}

/**
 * Opens a whole object held in memory with its data key (a share link's key): header,
 * commitment, then every chunk, laid out by the object's length (FORMAT.md, "Reading",
 * random access). Returns { header, plaintext }.
 */
export async function openObject(bytes, dataKey) {
  const header = parseHeader(bytes);
  if (bytes.length < HEADER_LEN + PREFIX_LEN) {
    throw new FormatError('Truncated', `truncated: the object ends at byte ${bytes.length}, inside the salt or commitment`);
  }
  const salt = bytes.subarray(HEADER_LEN, HEADER_LEN + SALT_LEN);
  const stored = bytes.subarray(HEADER_LEN + SALT_LEN, HEADER_LEN + PREFIX_LEN);
  const cipher = await BodyCipher.open(header.suite, dataKey, salt, stored, header.bound);
  const { k, f, plaintextLen } = layout(bytes.length);
  const out = new Uint8Array(plaintextLen);
  // The final chunk first: the length came from untrusted storage.
  const finalOff = chunkOffset(k);
  out.set(await cipher.openChunk(k, bytes.subarray(finalOff, finalOff + f), true), k * CHUNK);
  for (let j = 0; j < k; j++) {
    const o = chunkOffset(j);
    out.set(await cipher.openChunk(j, bytes.subarray(o, o + SEALED_CHUNK), false), j * CHUNK);
  }
  return { header, plaintext: out };
}

/** Seals `plaintext` (in memory) under a header made by the caller; returns the object bytes. */
export async function sealObject(suite, header, bound, dataKey, salt, plaintext) {
  const { cipher, prefix } = await BodyCipher.create(suite, dataKey, salt, bound);
  const k = Math.floor(plaintext.length / CHUNK);
  const f = plaintext.length % CHUNK;
  const out = new Uint8Array(HEADER_LEN + PREFIX_LEN + plaintext.length + TAG * (k + 1));
  out.set(header, 0);
  out.set(prefix, HEADER_LEN);
  for (let j = 0; j <= k; j++) {
    const piece = plaintext.subarray(j * CHUNK, j * CHUNK + (j < k ? CHUNK : f));
    out.set(await cipher.sealChunk(j, piece), chunkOffset(j));
  }
  return out;
}
