// The page: reads the fragment once, removes it from the address bar and history, and either
// opens a share link (ranged GETs, decrypted here, saved through a streaming download) or
// seals a chosen file for the link's recipients and uploads it. Nothing from the fragment is
// ever sent anywhere; the only requests are to the presigned URLs it holds.
import { parseFragment } from './share.js';
import { openRemote } from './remote.js';
import { sealUpload } from './upload.js';
import { fingerprint, parsePublicKey } from './records.js';
import { SUITES } from './format.js';

const $ = (id) => document.getElementById(id);
/** Plaintexts up to this size are kept in memory and saved only once all of it authenticated. */
export const MEMORY_LIMIT = 32 * 1024 * 1024;

function setState(s) {
  document.body.dataset.state = s;
}

export function humanSize(n) {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[u]} (${n} bytes)`;
}

function baseName(name) {
  const b = name.split('/').pop() || 'download';
  return b.replace(/[\\:*?"<>|]/g, '_');
}

function clickDownload(href, filename) {
  const a = document.createElement('a');
  a.href = href;
  a.download = filename;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
}

/** All-or-nothing: nothing is handed to the browser before the last chunk authenticated. */
function memorySink(filename) {
  const parts = [];
  return {
    kind: 'memory',
    async write(p) {
      parts.push(p);
    },
    async close() {
      const url = URL.createObjectURL(new Blob(parts, { type: 'application/octet-stream' }));
      parts.length = 0;
      clickDownload(url, filename);
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
    async abort() {
      parts.length = 0;
    },
  };
}

async function controllingWorker() {
  if (!('serviceWorker' in navigator)) return null;
  try {
    await navigator.serviceWorker.ready;
  } catch {
    return null;
  }
  if (navigator.serviceWorker.controller) return navigator.serviceWorker.controller;
  await new Promise((r) => {
    navigator.serviceWorker.addEventListener('controllerchange', r, { once: true });
    setTimeout(r, 3000);
  });
  return navigator.serviceWorker.controller;
}

/**
 * Streaming: a ReadableStream handed to the service worker, which answers a same-origin
 * navigation with it as an attachment; the browser's download manager writes it to disk as
 * it arrives, so the file never sits whole in memory. Only authenticated chunks are written;
 * on a failure the stream is aborted and the browser marks the download failed.
 */
async function streamSink(sw, filename, size) {
  const id = crypto.randomUUID();
  const ts = new TransformStream({}, new CountQueuingStrategy({ highWaterMark: 8 }));
  const ch = new MessageChannel();
  const ready = new Promise((resolve, reject) => {
    ch.port1.onmessage = (e) => (e.data === 'ready' ? resolve() : reject(new Error(String(e.data))));
    setTimeout(() => reject(new Error('the service worker did not answer')), 5000);
  });
  sw.postMessage({ type: 'download', id, filename, size, readable: ts.readable }, [ch.port2, ts.readable]);
  await ready;
  const frame = document.createElement('iframe');
  frame.hidden = true;
  frame.src = `__download/${id}`;
  document.body.append(frame);
  const w = ts.writable.getWriter();
  return {
    kind: 'stream',
    async write(p) {
      await w.ready;
      await w.write(p);
    },
    async close() {
      await w.close();
      setTimeout(() => frame.remove(), 60_000);
    },
    async abort(e) {
      await w.abort(e);
    },
  };
}

function explain(e, streamed = true) {
  if (e && e.name === 'FormatError') {
    switch (e.kind) {
      case 'CommitmentMismatch':
        return 'This link\'s key does not open this file: the key is wrong (the link was changed or damaged), or the stored file was modified. Nothing was saved.';
      case 'ChunkAuthentication':
        return `Part of the file failed its integrity check (chunk ${e.chunk}, bytes ${e.chunk * 16384} onwards): the stored file was modified or corrupted. ${streamed ? 'The download was stopped; discard anything saved.' : 'Nothing was saved.'}`;
      default:
        return `This is not a valid sealstream file: ${e.message}`;
    }
  }
  return e?.message ?? String(e);
}

async function runOpen(link) {
  setState('open-checking');
  const status = $('open-status');
  status.textContent = 'Reading and checking the file…';
  const started = performance.now();
  let streamed = false;
  try {
    await openRemote(link.url, link.key, {
      start: async (info) => {
        $('open-name').textContent = info.name || '(no name)';
        $('open-size').textContent = humanSize(info.plaintextLen);
        $('open-suite').textContent = SUITES[info.suite].name;
        $('open-title').textContent = 'Ready to decrypt';
        status.textContent = 'The key matches this file. Decrypt and save it?';
        setState('open-ready');
        const save = $('open-save');
        save.disabled = false;
        await new Promise((r) => save.addEventListener('click', r, { once: true }));
        save.disabled = true;
        setState('open-progress');
        status.textContent = 'Decrypting…';
        const filename = baseName(info.name);
        const sw = info.plaintextLen > MEMORY_LIMIT ? await controllingWorker() : null;
        if (info.plaintextLen > MEMORY_LIMIT && !sw) {
          status.textContent = 'Decrypting in memory (this browser offers no streaming download here)…';
        }
        streamed = Boolean(sw);
        return sw ? streamSink(sw, filename, info.plaintextLen) : memorySink(filename);
      },
      onProgress: (done, total) => {
        $('open-progress').value = total ? done / total : 1;
        status.textContent = `Decrypting… ${humanSize(done)} of ${humanSize(total)}`;
      },
    });
    const secs = (performance.now() - started) / 1000;
    $('open-title').textContent = 'Done';
    status.textContent = 'Decrypted and saved: every chunk authenticated.';
    document.body.dataset.seconds = secs.toFixed(3);
    setState('open-done');
  } catch (e) {
    $('open-title').textContent = 'Refused';
    status.textContent = explain(e, streamed);
    setState('open-error');
  }
}

async function runUpload(plan) {
  $('upload-object').textContent = plan.object;
  const fps = plan.recipients.map((r) => {
    try {
      return fingerprint(parsePublicKey(r));
    } catch (e) {
      throw new Error(`a recipient key of this link is damaged: ${e.message}`);
    }
  });
  $('upload-recipients').textContent = fps.map((f) => `x25519 ${f}`).join(', ');
  $('upload-max').textContent = humanSize(Math.min(plan.maxSize, plan.parts.length * plan.partSize));
  $('upload-expires').textContent = plan.expires ? new Date(plan.expires * 1000).toISOString() : 'unknown';
  setState('upload-ready');
  const input = $('upload-file');
  const go = $('upload-go');
  const status = $('upload-status');
  input.addEventListener('change', () => {
    go.disabled = !input.files?.length;
  });
  go.addEventListener('click', async () => {
    const file = input.files[0];
    go.disabled = true;
    input.disabled = true;
    setState('upload-progress');
    status.textContent = 'Sealing and uploading…';
    try {
      const r = await sealUpload(file, plan, {
        onProgress: (done, total) => {
          $('upload-progress').value = total ? done / total : 1;
          status.textContent = `Sealed and uploaded ${humanSize(done)} of ${humanSize(total)}`;
        },
      });
      $('upload-title').textContent = 'Uploaded';
      status.textContent = `Done: ${file.name} was sealed and stored as ${plan.object} (${r.parts} part${r.parts === 1 ? '' : 's'}).`;
      setState('upload-done');
    } catch (e) {
      $('upload-title').textContent = 'Upload failed';
      status.textContent = `${explain(e)} The upload was aborted; nothing was stored.`;
      setState('upload-error');
    }
  });
}

function main() {
  if ('serviceWorker' in navigator) {
    // Offline once loaded, and the streaming downloads; the page works without it.
    navigator.serviceWorker.register('sw.js', { scope: './' }).catch(() => {});
  }
  // A new link pasted into this tab changes only the fragment: start over with it.
  window.addEventListener('hashchange', () => location.reload());
  const fragment = location.hash;
  // Keep the key out of the address bar and the session history from here on.
  if (fragment) history.replaceState(null, '', location.pathname + location.search);
  let link;
  try {
    link = parseFragment(fragment);
  } catch (e) {
    $('link-error-msg').textContent = e.message;
    setState('link-error');
    return;
  }
  if (link.kind === 'open') runOpen(link);
  else if (link.kind === 'upload') {
    runUpload(link.plan).catch((e) => {
      $('link-error-msg').textContent = e.message;
      setState('link-error');
    });
  } else setState('home');
}

main();
