// The store probe (host/tests/store-probe, a test component) on the stores of stores.js, so the
// store conformance suite of the Rust tests (host/tests/api/conformance.rs) runs against the
// JavaScript stores exactly as against every other backend: each store operation is one HTTP
// request, `POST /store-probe/<operation>` with its arguments as JSON.
//
//   npm run build:probe   # jco transpile of target/wasm32-wasip2/wasm/asm_store_probe.wasm -> gen-probe/
//   PORT=0 node probe.js  # prints "probe listening on http://127.0.0.1:<port>"
//
// For tests only: it serves every store operation to whoever can reach it.

import { existsSync } from 'node:fs';
import { HTTPServer } from '@bytecodealliance/preview2-shim/http';

if (!existsSync(new URL('./gen-probe/asm_store_probe.js', import.meta.url))) {
  console.error('gen-probe/asm_store_probe.js is missing: run `npm run build:probe` first');
  process.exit(1);
}
const { incomingHandler } = await import('./gen-probe/asm_store_probe.js');
const server = new HTTPServer(incomingHandler);
server.listen(Number(process.env.PORT ?? '0'), '127.0.0.1');
const { port } = server.address();
console.log(`probe listening on http://127.0.0.1:${port}`);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.stop();
    process.exit(0);
  });
}
