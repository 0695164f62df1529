'use strict';
/* global require, process, Buffer */
// Runs autocannon in its own process (bench/rest-roundtrip.bench.ts spawns it) so the load
// generator does not share the server's event loop. autocannon's own histogram keeps whole
// milliseconds; the 'response' event carries the hrtime duration, kept here in microseconds.
// Input: one JSON argument (autocannon options; `bodyBase64` for a binary body). Output: one JSON line on stdout.
const autocannon = require('autocannon');
const { latencyHistogram, report } = require('./load-report');

const options = JSON.parse(process.argv[2]);
if (options.bodyBase64 !== undefined) {
  options.body = Buffer.from(options.bodyBase64, 'base64');
  delete options.bodyBase64;
}
const histogram = latencyHistogram();
const statuses = {};

const instance = autocannon(options, (error, result) => {
  if (error) {
    process.stdout.write(JSON.stringify({ error: String(error) }) + '\n');
    process.exit(1);
  }
  report(histogram, result.duration, { errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, statuses });
});
instance.on('response', (_client, statusCode, _bytes, responseTime) => {
  statuses[statusCode] = (statuses[statusCode] || 0) + 1;
  if (statusCode >= 200 && statusCode < 300) histogram.recordValue(Math.max(1, Math.round(responseTime * 1000)));
});
