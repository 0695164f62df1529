'use strict';
/* global require, module, performance, setTimeout */
// The schedule shared by the open-loop load children (rate-child.js, socket-rate-child.js), as wrk2
// runs it: request i is due at start + i/rate and its latency counts from that due time, so a
// stalled server is charged for the requests it delayed (no coordinated omission). `warmup` seconds
// at the same rate come first and are not recorded (sockets opened, both sides' JIT warm), as wrk2
// calibrates before it measures. Prints the report line once every request has an outcome.
const { latencyHistogram, report } = require('./load-report');

/**
 * Calls `fire(due, index, recorded)` for each request at its due time; the child tells the
 * returned loop each request's outcome, once: `answered(status, due, recorded)` or `failed()`.
 */
function openLoop({ rate, duration, warmup: warmupS = 0 }, fire) {
  const histogram = latencyHistogram();
  const statuses = {};
  const warmup = Math.round(rate * warmupS);
  const total = warmup + Math.round(rate * duration);
  const interval = 1000 / rate;
  const start = performance.now() + 20;
  // Recording starts with the first request due after the warm-up.
  const measuredFrom = start + warmup * interval;
  let sent = 0;
  let finished = 0;
  let errors = 0;
  let maxInflight = 0;

  function finish() {
    if (++finished < total) return;
    const seconds = (performance.now() - measuredFrom) / 1000;
    const non2xx = Object.entries(statuses).reduce((n, [code, count]) => (code >= 200 && code < 300 ? n : n + count), 0);
    report(histogram, +seconds.toFixed(2), { errors, timeouts: 0, non2xx, statuses, maxInflight });
  }

  function tick() {
    const now = performance.now();
    while (sent < total && start + sent * interval <= now) {
      fire(start + sent * interval, sent, sent >= warmup);
      sent++;
      maxInflight = Math.max(maxInflight, sent - finished);
    }
    if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
  }
  setTimeout(tick, 20);

  return {
    answered(status, due, recorded) {
      statuses[status] = (statuses[status] || 0) + 1;
      if (recorded) histogram.recordValue(Math.max(1, Math.round((performance.now() - due) * 1000)));
      finish();
    },
    failed() {
      errors++;
      finish();
    },
  };
}

module.exports = { openLoop };
