'use strict';
/* global require, process, URL, Buffer */
// An open-loop load generator at a constant rate (wrk2-style, lib/open-loop.js), in its own process
// so it does not share the server's event loop, on node:http's client. autocannon's overallRate
// instead sends each connection's share in a burst at the start of every second, which measures
// its own queueing. Keep-alive sockets, as many as are in flight (up to maxSockets, 256).
// Input: one JSON argument { url, urls?, method?, headers?, body?, bodyBase64?, rate, duration, warmup?, maxSockets? };
// with `urls`, request i goes to urls[i % urls.length].
// Output: one JSON line on stdout, latency in ms (µs resolution) over every response.
const http = require('node:http');
const { openLoop } = require('./open-loop');

const options = JSON.parse(process.argv[2]);
if (options.bodyBase64 !== undefined) options.body = Buffer.from(options.bodyBase64, 'base64');
const targets = (options.urls ?? [options.url]).map((u) => new URL(u));
const agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 256 });

const loop = openLoop(options, (due, index, recorded) => {
  const target = targets[index % targets.length];
  const req = http.request(
    { host: target.hostname, port: target.port, path: target.pathname + target.search, method: options.method ?? 'GET', headers: options.headers, agent },
    (res) => {
      res.resume();
      res.on('end', () => loop.answered(res.statusCode, due, recorded));
    },
  );
  req.on('error', () => loop.failed());
  req.end(options.body);
});
