'use strict';
/* global require, process, URL, Buffer */
// rate-child.js's open loop (lib/open-loop.js: request i due at start + i/rate, latency from its
// due time, warm-up unrecorded) without node:http on the client side: each request is the same bytes
// written whole to a keep-alive socket, and an answer is read by its status line and Content-Length
// only. Per request that is one write and one read, which leaves more of a small machine to the
// server under test than node:http's ClientRequest, IncomingMessage and Agent do (bench/
// metrics-agents runs the server it measures on the same two cores). One request per socket at a
// time (no pipelining); a socket is opened whenever none is idle, up to `maxSockets` (256, as
// rate-child's Agent); beyond that, requests wait for a socket (their latency still counts from
// their due time). An answer without Content-Length, or a socket that closes mid-answer, counts as
// an error.
// Input: one JSON argument { url, method?, headers?, body?, bodyBase64?, rate, duration, warmup?, maxSockets? }.
// Output: one JSON line on stdout, latency in ms (µs resolution) over every response.
const net = require('node:net');
const { openLoop } = require('./open-loop');

const options = JSON.parse(process.argv[2]);
const target = new URL(options.url);
const body = options.bodyBase64 !== undefined ? Buffer.from(options.bodyBase64, 'base64') : Buffer.from(options.body ?? '');
const head =
  `${options.method ?? 'GET'} ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
  Object.entries(options.headers ?? {})
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('') +
  `Content-Length: ${body.length}\r\n\r\n`;
const request = Buffer.concat([Buffer.from(head, 'latin1'), body]);

const idle = [];
const queued = [];
let queuedHead = 0;
const nextQueued = () => (queuedHead < queued.length ? queued[queuedHead++] : undefined);
const maxSockets = options.maxSockets ?? 256;
let sockets = 0;

/** A keep-alive connection; `current` is the request it waits on: { due, recorded }. */
function open() {
  sockets++;
  const socket = net.connect({ host: target.hostname, port: Number(target.port) });
  socket.setNoDelay(true);
  const conn = { socket, current: undefined, buffered: Buffer.alloc(0), status: 0, need: -1, closed: false };
  socket.on('data', (chunk) => {
    conn.buffered = conn.buffered.length === 0 ? chunk : Buffer.concat([conn.buffered, chunk]);
    for (;;) {
      if (conn.need < 0) {
        const end = conn.buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const headers = conn.buffered.toString('latin1', 0, end);
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(headers);
        if (!length) return fail(conn);
        conn.status = Number(headers.slice(9, 12));
        conn.need = end + 4 + Number(length[1]);
      }
      if (conn.buffered.length < conn.need) return;
      conn.buffered = conn.buffered.subarray(conn.need);
      conn.need = -1;
      const { due, recorded } = conn.current;
      conn.current = undefined;
      const waiting = nextQueued();
      if (waiting) send(conn, waiting);
      else idle.push(conn);
      loop.answered(conn.status, due, recorded);
      if (conn.buffered.length === 0) return;
    }
  });
  const gone = () => fail(conn);
  socket.on('error', gone);
  socket.on('close', gone);
  return conn;
}

function fail(conn) {
  if (conn.closed) return;
  conn.closed = true;
  sockets--;
  const index = idle.indexOf(conn);
  if (index >= 0) idle.splice(index, 1);
  conn.socket.destroy();
  // A request waiting for a socket gets a new one.
  const waiting = nextQueued();
  if (waiting) send(open(), waiting);
  if (conn.current === undefined) return;
  conn.current = undefined;
  loop.failed();
}

function send(conn, current) {
  conn.current = current;
  conn.socket.write(request);
}

const loop = openLoop(options, (due, index, recorded) => {
  const conn = idle.pop() ?? (sockets < maxSockets ? open() : undefined);
  if (conn) send(conn, { due, recorded });
  else queued.push({ due, recorded });
});
