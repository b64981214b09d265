// Builds web/dist/: the bundled page (esbuild), its service worker and index.html with the
// Content-Security-Policy's connect-src filled in.
//
//   node build.mjs [--connect-src "SOURCES"]     default: "https:" (any https origin,
//                                                 since the bucket's host is not known here)
// A host that serves the page for one bucket should narrow it, e.g.
//   --connect-src "https://my-bucket.s3.eu-west-1.amazonaws.com"
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';

const args = process.argv.slice(2);
let connectSrc = 'https:';
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--connect-src') connectSrc = args[++i];
  else throw new Error(`build.mjs: unknown argument ${args[i]}`);
}
if (!/^[A-Za-z0-9:/.*\- ]+$/.test(connectSrc)) throw new Error('--connect-src: only CSP source expressions');

const src = new URL('./src/', import.meta.url);
const dist = new URL('./dist/', import.meta.url);
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);
await esbuild.build({
  entryPoints: [new URL('app.js', src).pathname],
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox115', 'safari16'],
  minify: true,
  legalComments: 'linked',
  outfile: new URL('app.js', dist).pathname,
});
const app = readFileSync(new URL('app.js', dist));
const id = createHash('sha256').update(app).update(readFileSync(new URL('style.css', src))).digest('hex').slice(0, 16);
writeFileSync(new URL('sw.js', dist), readFileSync(new URL('sw.js', src), 'utf8').replace('@BUILD_ID@', id));
writeFileSync(new URL('index.html', dist), readFileSync(new URL('index.html', src), 'utf8').replace('@CONNECT_SRC@', connectSrc));
copyFileSync(new URL('style.css', src), new URL('style.css', dist));
console.log(`web/dist built (build ${id}, connect-src ${connectSrc}, app.js ${app.length} bytes)`);
