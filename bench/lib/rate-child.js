'use strict';
/* global require, process, performance, setTimeout, URL, Buffer */
// An open-loop load generator at a constant rate (wrk2-style), in its own process so it does not
// share the server's event loop. Request i is due at start + i/rate; its latency is measured from
// that due time, so a stalled server is charged for the requests it delayed (no coordinated
// omission). autocannon's overallRate instead sends each connection's share in a burst at the start
// of every second, which measures its own queueing. Keep-alive sockets, as many as are in flight.
// Input: one JSON argument { url, urls?, method?, headers?, body?, bodyBase64?, rate, duration, warmup?, maxSockets? };
// `warmup` seconds at the same rate come first and are not recorded (sockets opened, both sides' JIT warm),
// as wrk2 calibrates before it measures.
// with `urls`, request i goes to urls[i % urls.length].
// Output: one JSON line on stdout, latency in ms (µs resolution) over every response.
const http = require('node:http');
const { latencyHistogram, report } = require('./load-report');

const options = JSON.parse(process.argv[2]);
if (options.bodyBase64 !== undefined) options.body = Buffer.from(options.bodyBase64, 'base64');
const targets = (options.urls ?? [options.url]).map((u) => new URL(u));
const agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 256 });
const histogram = latencyHistogram();
const statuses = {};
const warmup = Math.round(options.rate * (options.warmup ?? 0));
const total = warmup + Math.round(options.rate * options.duration);
const interval = 1000 / options.rate;
const start = performance.now() + 20;
// Recording starts with the first request due after the warm-up.
const measuredFrom = start + warmup * (1000 / options.rate);
let sent = 0;
let finished = 0;
let errors = 0;
let maxInflight = 0;

function done() {
  if (++finished < total) return;
  const seconds = (performance.now() - measuredFrom) / 1000;
  const non2xx = Object.entries(statuses).reduce((n, [code, count]) => (code >= 200 && code < 300 ? n : n + count), 0);
  report(histogram, +seconds.toFixed(2), { errors, timeouts: 0, non2xx, statuses, maxInflight });
}

function fire(due, target, recorded) {
  const req = http.request(
    { host: target.hostname, port: target.port, path: target.pathname + target.search, method: options.method ?? 'GET', headers: options.headers, agent },
    (res) => {
      res.resume();
      res.on('end', () => {
        statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
        if (recorded) histogram.recordValue(Math.max(1, Math.round((performance.now() - due) * 1000)));
        done();
      });
    },
  );
  req.on('error', () => {
    errors++;
    done();
  });
  req.end(options.body);
  maxInflight = Math.max(maxInflight, sent + 1 - finished);
}

function tick() {
  const now = performance.now();
  while (sent < total && start + sent * interval <= now) {
    fire(start + sent * interval, targets[sent % targets.length], sent >= warmup);
    sent++;
  }
  if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
}
setTimeout(tick, 20);
