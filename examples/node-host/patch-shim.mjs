// Keeps every response header of the same name on its way out of preview2-shim's HTTPServer.
//
// @bytecodealliance/preview2-shim 0.26.1 (the newest) writes the component's response headers
// with `Object.fromEntries`, which keeps only the last of headers that share a name: of a
// login's two `Set-Cookie` headers (the device cookie and the session cookie) one was lost. Node's
// `writeHead` also takes a flat list of names and values, which keeps them all; this rewrites
// that one expression in the installed package. `npm run build` runs it; it is idempotent and
// fails loudly if the shim no longer has the expression (then check whether it is still needed).

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('./node_modules/@bytecodealliance/preview2-shim/dist/io/', import.meta.url);
const collapsing = 'Object.fromEntries(headers.map(([key, val]) => [key, textDecoder.decode(val)]))';
const keepingAll = 'headers.flatMap(([key, val]) => [key, textDecoder.decode(val)])';

for (const name of ['worker-http.js', 'worker-thread.bundle.js']) {
  const path = fileURLToPath(new URL(name, dist));
  const text = readFileSync(path, 'utf8');
  if (text.includes(keepingAll)) continue;
  if (!text.includes(collapsing)) {
    console.error(`patch-shim: ${path} has neither the expression to fix nor the fix`);
    process.exit(1);
  }
  writeFileSync(path, text.replaceAll(collapsing, keepingAll));
  console.log(`patch-shim: ${name} now keeps repeated response headers`);
}
