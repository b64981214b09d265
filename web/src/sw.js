// The page's service worker: (1) offline use once loaded (its own files, cache-first);
// (2) streaming downloads: the page hands it a ReadableStream of authenticated plaintext
// and navigates a hidden frame to __download/ID, answered here as an attachment.
// It never sees a key, and never touches requests to other origins.
const CACHE = 'sealstream-@BUILD_ID@';
const ASSETS = ['./', 'index.html', 'app.js', 'style.css'];
const pending = new Map();

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(ASSETS)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('message', (e) => {
  const d = e.data;
  if (!d || d.type !== 'download' || typeof d.id !== 'string' || !(d.readable instanceof ReadableStream)) return;
  pending.set(d.id, d);
  // Forget it if the frame never comes.
  setTimeout(() => pending.delete(d.id), 60_000);
  e.ports[0]?.postMessage('ready');
});

function contentDisposition(filename) {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (url.origin !== self.location.origin || e.request.method !== 'GET') return;
  const scope = new URL(self.registration.scope);
  const rel = url.pathname.slice(scope.pathname.length);
  if (rel.startsWith('__download/')) {
    const d = pending.get(rel.slice('__download/'.length));
    if (!d) return e.respondWith(new Response('this download is no longer available', { status: 404 }));
    pending.delete(d.id);
    const headers = {
      'Content-Type': 'application/octet-stream',
      'Content-Disposition': contentDisposition(d.filename),
      'X-Content-Type-Options': 'nosniff',
    };
    if (Number.isSafeInteger(d.size)) headers['Content-Length'] = String(d.size);
    return e.respondWith(new Response(d.readable, { headers }));
  }
  e.respondWith(caches.match(e.request, { ignoreSearch: true }).then((r) => r || fetch(e.request)));
});
