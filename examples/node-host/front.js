// The public HTTP listener, run in a worker thread by server.js.
//
// It accepts client connections, replaces any client-sent `spin-client-addr` header with the
// connection's real peer address, and forwards the request to the component's server (the
// preview2-shim HTTPServer, on a Unix socket that only this user can reach).
//
// Why a separate listener: the shim's HTTPServer does not tell the component who the peer is,
// and its headers cannot be changed once the request reaches the guest.
// Why a worker thread: the component runs on the main thread and blocks it while it reads the
// request body; a listener on the main thread could then not feed it that body (deadlock).
//
// Like the native host, it reads each request whole before the component sees it, under time
// limits (HEADER_READ_TIMEOUT, BODY_READ_TIMEOUT: 10 s each by default) and a size limit: the
// component serves one request at a time here, so a client that sends its body slowly must not
// hold it. A body that does not arrive in time gets 408; one over 8 MiB gets 413 and the
// connection is closed (up to that, the component itself answers 413 past 64 KiB).

import http from 'node:http';
import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

const { socketPath, port, host, logRequests, headerReadTimeoutMs, bodyReadTimeoutMs } = workerData;

export const CLIENT_ADDR_HEADER = 'spin-client-addr';
/** The most body bytes read for a request (asm_contract::http::DRAIN_LIMIT); past it, 413. */
const DRAIN_LIMIT = 8 * 1024 * 1024;

/** Hop-by-hop headers (RFC 9110 7.6.1): they describe one connection, not the request. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** `ip:port`, with IPv6 in brackets (what the component's parser expects). */
function peerAddress(socket) {
  const ip = socket.remoteAddress ?? '';
  return net.isIPv6(ip) ? `[${ip}]:${socket.remotePort}` : `${ip}:${socket.remotePort}`;
}

/** rawHeaders (flat name, value list) minus hop-by-hop headers and those `Connection` names. */
function forwardable(rawHeaders, extraDrop = []) {
  const drop = new Set([...HOP_BY_HOP, ...extraDrop]);
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === 'connection') {
      for (const name of rawHeaders[i + 1].split(',')) drop.add(name.trim().toLowerCase());
    }
  }
  const out = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (!drop.has(rawHeaders[i].toLowerCase())) out.push(rawHeaders[i], rawHeaders[i + 1]);
  }
  return out;
}

function sendError(res, status, message, error, close = false) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ status, message, error });
  const headers = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  if (close) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

/** The request body, read whole within the time limit; null (and the answer sent) if not. */
function readBody(req, res) {
  return new Promise((resolve) => {
    const chunks = [];
    let seen = 0;
    let done = false;
    const finish = (value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => {
      sendError(res, 408, 'Request timeout', 'the request body did not arrive in time', true);
      finish(null);
      req.destroy();
    }, bodyReadTimeoutMs);
    req.on('data', (chunk) => {
      seen += chunk.length;
      if (seen > DRAIN_LIMIT) {
        sendError(res, 413, 'Request body too large', 'bodies are limited to 65536 bytes', true);
        finish(null);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => finish(Buffer.concat(chunks)));
    req.on('error', () => finish(null));
  });
}

const upstreamAgent = new http.Agent({ keepAlive: true });

const server = http.createServer(async (req, res) => {
  const started = process.hrtime.bigint();
  const body = await readBody(req, res);
  if (body === null) return;
  const headers = forwardable(req.rawHeaders, [CLIENT_ADDR_HEADER, 'content-length']);
  headers.push(CLIENT_ADDR_HEADER, peerAddress(req.socket));
  if (body.length > 0 || !['GET', 'HEAD'].includes(req.method)) headers.push('content-length', String(body.length));

  const upstream = http.request({
    socketPath,
    agent: upstreamAgent,
    method: req.method,
    path: req.url,
    headers,
  });

  upstream.on('response', (up) => {
    res.writeHead(up.statusCode, forwardable(up.rawHeaders));
    up.pipe(res);
    if (logRequests) {
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        console.log(`${req.method} ${req.url} ${up.statusCode} ${ms.toFixed(1)}ms`);
      });
    }
  });
  upstream.on('error', (e) => {
    // After a complete response this is the component's server dropping a request body it
    // chose not to read (e.g. a huge upload answered with 413); nothing is lost.
    if (res.writableFinished) return;
    console.error(`upstream error for ${req.method} ${req.url}: ${e.message}`);
    sendError(res, 502, 'Bad gateway', 'the component did not answer');
  });
  // A client that goes away takes its upstream exchange with it.
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });

  upstream.end(body);
});
// The request's head must arrive in time too; an idle keep-alive connection is closed as soon.
server.headersTimeout = headerReadTimeoutMs;
server.requestTimeout = headerReadTimeoutMs + bodyReadTimeoutMs;
server.keepAliveTimeout = headerReadTimeoutMs;

server.on('clientError', (err, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  else socket.destroy();
});

server.on('error', (e) => parentPort.postMessage({ type: 'error', message: e.message }));

server.listen(port, host, () => {
  const a = server.address();
  parentPort.postMessage({ type: 'listening', address: a.address, port: a.port, family: a.family });
});

parentPort.on('message', (msg) => {
  if (msg?.type === 'close') {
    // Stop accepting; in-flight requests finish, idle keep-alive connections are closed.
    server.close(() => {
      upstreamAgent.destroy();
      parentPort.postMessage({ type: 'closed' });
    });
    server.closeIdleConnections();
  }
});
