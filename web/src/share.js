// The fragment of a web-page link (docs/CLI.md, "share --web-page" and "upload-link"):
//
//   open a share link:   PAGE#k=<data key: 43 base64url>&u=<base64url of the presigned GET URL>
//   seal an upload:      PAGE#up=<base64url of the upload plan, JSON>
//
// base64url is RFC 4648 section 5 without padding. Nothing in the fragment is ever sent:
// browsers do not send fragments, and this page sends none of it anywhere.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const LOOKUP = new Map(Array.from(ALPHABET, (c, i) => [c, i]));

/** Unpadded base64url; throws on any other character or an impossible length. */
export function b64urlDecode(s) {
  if (s.length % 4 === 1) throw new Error('not base64url: impossible length');
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (const c of s) {
    const v = LOOKUP.get(c);
    if (v === undefined) throw new Error('not base64url: a character outside A-Z a-z 0-9 - _');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  // Canonical: the unused low bits must be zero, so each byte string has one text.
  if ((acc & ((1 << bits) - 1)) !== 0) throw new Error('not base64url: non-canonical final character');
  return out;
}

export function b64urlEncode(bytes) {
  let s = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      s += ALPHABET[(acc >> bits) & 63];
    }
    acc &= 0xff;
  }
  if (bits > 0) s += ALPHABET[(acc << (6 - bits)) & 63];
  return s;
}

export class LinkError extends Error {
  constructor(msg) {
    super(msg);
    this.name = 'LinkError';
  }
}

function params(fragment) {
  const f = fragment.startsWith('#') ? fragment.slice(1) : fragment;
  const map = new Map();
  if (f === '') return map;
  for (const part of f.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new LinkError('the link is damaged: a part of its #... fragment is not NAME=VALUE (was it cut when copied?)');
    const name = part.slice(0, eq);
    if (map.has(name)) throw new LinkError(`the link is damaged: its fragment has "${name}" twice`);
    map.set(name, part.slice(eq + 1));
  }
  return map;
}

const dec = new TextDecoder('utf-8', { fatal: true });

function httpUrl(s, what) {
  let u;
  try {
    u = new URL(s);
  } catch {
    throw new LinkError(`the link is damaged: ${what} is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new LinkError(`${what} must be an https:// (or http://) URL`);
  if (u.hash) throw new LinkError(`${what} must not have a fragment`);
  return s;
}

/**
 * Parses a page fragment. Returns
 *   { kind: 'none' } for an empty fragment,
 *   { kind: 'open', url, key }  (key: 32 bytes),
 *   { kind: 'upload', plan }    (plan: see parsePlan).
 * Throws LinkError with a message for the page otherwise.
 */
export function parseFragment(fragment) {
  const p = params(fragment);
  if (p.size === 0) return { kind: 'none' };
  if (p.has('up')) {
    if (p.size !== 1) throw new LinkError('the upload link is damaged: its fragment must hold only up=...');
    let json;
    try {
      json = JSON.parse(dec.decode(b64urlDecode(p.get('up'))));
    } catch {
      throw new LinkError('the upload link is damaged: up=... is not base64url of a JSON plan (was it cut when copied?)');
    }
    return { kind: 'upload', plan: parsePlan(json) };
  }
  for (const name of p.keys()) {
    if (name !== 'k' && name !== 'u') throw new LinkError(`the link has an unknown fragment part "${name}" (is the page older than the link?)`);
  }
  if (!p.has('k')) throw new LinkError('the link has no key (k=...): it is not a share link, or it was cut');
  if (!p.has('u')) throw new LinkError('the link has no object URL (u=...): it was cut when copied');
  const k = p.get('k');
  if (!/^[A-Za-z0-9_-]{43}$/.test(k)) throw new LinkError('the key (k=...) is not 43 base64url characters: the link was damaged');
  let key;
  try {
    key = b64urlDecode(k);
  } catch (e) {
    throw new LinkError(`the key (k=...) is damaged: ${e.message}`);
  }
  let url;
  try {
    url = dec.decode(b64urlDecode(p.get('u')));
  } catch {
    throw new LinkError('the object URL (u=...) is not base64url: the link was damaged');
  }
  return { kind: 'open', url: httpUrl(url, 'the object URL'), key };
}

/**
 * Validates an upload plan (made by `sealstream upload-link`):
 * {v: 1, object, name, suite, recipients: [pub text], part_size, max_size, expires,
 *  parts: [url] | part_template: url, part_signatures: [sig of parts 2..n],
 *  complete: url, abort: url}
 * Returns it with `parts` expanded to one URL per part.
 */
export function parsePlan(j) {
  const bad = (why) => new LinkError(`the upload link is damaged: ${why}`);
  if (!j || typeof j !== 'object' || j.v !== 1) throw bad('unknown plan version (is the page older than the link?)');
  if (typeof j.name !== 'string' || j.name.length === 0) throw bad('no object name');
  if (!Array.isArray(j.recipients) || j.recipients.length < 1 || j.recipients.length > 31) throw bad('1 to 31 recipients');
  if (!Number.isSafeInteger(j.part_size) || j.part_size < 5 * 1024 * 1024 || j.part_size % 16384 !== 0) throw bad('part_size');
  if (!Number.isSafeInteger(j.max_size) || j.max_size < 0) throw bad('max_size');
  if (j.suite !== undefined && j.suite !== 1 && j.suite !== 2) throw bad('suite');
  let parts;
  if (Array.isArray(j.parts)) {
    parts = j.parts.map((u) => httpUrl(u, 'a part URL'));
  } else if (typeof j.part_template === 'string' && Array.isArray(j.part_signatures)) {
    httpUrl(j.part_template, 'the part URL');
    parts = [j.part_template];
    j.part_signatures.forEach((sig, i) => {
      if (!/^[0-9a-f]{64}$/.test(sig)) throw bad('a part signature');
      parts.push(templated(j.part_template, i + 2, sig));
    });
  } else {
    throw bad('no part URLs');
  }
  if (parts.length < 1 || parts.length > 10000) throw bad('1 to 10000 parts');
  return {
    object: String(j.object ?? j.name),
    name: j.name,
    suite: j.suite ?? 1,
    recipients: j.recipients.map(String),
    partSize: j.part_size,
    maxSize: j.max_size,
    expires: Number(j.expires) || null,
    parts,
    complete: httpUrl(j.complete, 'the completion URL'),
    abort: httpUrl(j.abort, 'the abort URL'),
  };
}

/**
 * Part `n`'s URL from part 1's: the query parameters partNumber and X-Amz-Signature
 * replaced in place, everything else byte for byte (the CLI checks that this rebuilds
 * every presigned URL exactly before it uses the compact form).
 */
export function templated(template, n, sig) {
  const [base, query] = template.split('?', 2);
  const out = query.split('&').map((kv) => {
    if (kv.startsWith('partNumber=')) return `partNumber=${n}`;
    if (kv.startsWith('X-Amz-Signature=')) return `X-Amz-Signature=${sig}`;
    return kv;
  });
  return `${base}?${out.join('&')}`;
}
