'use strict';
/* global require, module, process */
// Shared by the load children: a latency histogram in µs and the one JSON line they print.
const hdr = require('hdr-histogram-js');

function latencyHistogram() {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120000000, numberOfSignificantValueDigits: 3 });
}

/** Prints the result line (latency in ms) and exits. */
function report(histogram, seconds, fields) {
  const ms = (p) => histogram.getValueAtPercentile(p) / 1000;
  const line = { requests: histogram.totalCount, durationS: seconds, rps: histogram.totalCount / seconds, ...fields, p50: ms(50), p90: ms(90), p99: ms(99), max: histogram.maxValue / 1000 };
  process.stdout.write(JSON.stringify(line) + '\n');
  process.exit(0);
}

module.exports = { latencyHistogram, report };
