// Serves the page (web/) and the pretrained bundle (pretrained/) on 127.0.0.1, with the headers that let
// onnxruntime-web use WASM threads (cross-origin isolation: COOP same-origin + COEP require-corp).
//
//   node web/serve.mjs            # http://127.0.0.1:8000/ (PORT=... to change; PORT=0 picks a free port)
//   NO_ISOLATION=1 node web/serve.mjs   # without the headers: the page runs single-threaded
//
// Only GET/HEAD of files under web/ and pretrained/ are served; nothing else of the repository. Prints
// "serving http://127.0.0.1:PORT/" once it listens (the web test reads that line).
import { createServer } from 'node:http';
import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = resolve(fileURLToPath(new URL('.', import.meta.url)));
const repo = resolve(web, '..');
const roots = { '/pretrained/': join(repo, 'pretrained') };
const port = Number(process.env.PORT ?? 8000);
const isolate = !process.env.NO_ISOLATION;
const types = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png',
  '.onnx': 'application/octet-stream', '.map': 'application/json',
};

function fileFor(pathname) {
  let base = web, rest = pathname;
  for (const [prefix, dir] of Object.entries(roots)) {
    if (pathname.startsWith(prefix)) { base = dir; rest = pathname.slice(prefix.length); }
  }
  const file = normalize(join(base, rest));
  return file === base || file.startsWith(base + sep) ? file : null;
}

const server = createServer(async (req, res) => {
  const headers = { 'Cache-Control': 'no-cache', 'Cross-Origin-Resource-Policy': 'same-origin' };
  if (isolate) Object.assign(headers, {
    'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
  });
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, headers).end(); return; }
    const { pathname } = new URL(req.url, 'http://localhost');
    let file = fileFor(decodeURIComponent(pathname));
    if (!file) { res.writeHead(403, headers).end(); return; }
    let info = await stat(file).catch(() => null);
    if (info?.isDirectory()) {
      // A folder of the bundle's examples is listed as JSON (the page's interpolation picker); web/ folders give
      // their index.html.
      if (pathname.startsWith('/pretrained/')) {
        const names = (await readdir(file)).filter((n) => n.endsWith('.png')).sort();
        res.writeHead(200, { ...headers, 'Content-Type': 'application/json' }).end(JSON.stringify(names));
        return;
      }
      file = join(file, 'index.html');
      info = await stat(file).catch(() => null);
    }
    if (!info?.isFile()) { res.writeHead(404, headers).end('not found'); return; }
    const body = await readFile(file);
    res.writeHead(200, { ...headers, 'Content-Type': types[extname(file)] ?? 'application/octet-stream',
      'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch (e) {
    res.writeHead(500, headers).end(String(e));
  }
});
server.listen(port, '127.0.0.1', () => {
  console.log(`serving http://127.0.0.1:${server.address().port}/ (cross-origin isolated: ${isolate ? 'yes' : 'no'})`);
});
