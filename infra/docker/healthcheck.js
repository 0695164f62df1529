#!/usr/bin/env node
// Container health check of infra/docker/Dockerfile.service (plain JS: runs without ts-node).
//   gateway   GET /api/v1/health answers (200 = all up, 503 = a dependency is down: the HTTP
//             server itself is alive, and the body says which dependency; HEALTH_STRICT=1 wants 200)
//   auth, users, nodes, …  `cmd.<service>.health` over NATS in Nest's wire format, status "up"
//   agent     not checked here (it has no request subject; liveness is its heartbeat)
// The NATS check needs a user allowed to publish cmd.<service>.health: HEALTHCHECK_CREDS, else
// <NATS_CREDS_DIR>/gateway.creds (docker-compose mounts every creds file read-only). Any replica of
// the service may answer (a queue group), so this says "the service answers", not "this container".
'use strict';
const { randomUUID } = require('node:crypto');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const service = process.env.SERVICE || 'gateway';
const fail = (why) => {
  console.error(`unhealthy: ${why}`);
  process.exit(1);
};

async function gateway() {
  const port = process.env.PORT || '8080';
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/health`, { signal: AbortSignal.timeout(4000) });
  const ok = res.status === 200 || (res.status === 503 && process.env.HEALTH_STRICT !== '1');
  if (!ok) fail(`GET /api/v1/health answered ${res.status}`);
  console.log(`gateway: ${res.status}`);
}

/** The user's own reply inbox (libs/messaging inboxPrefixFor): service users may not read `_INBOX.>`. */
function inboxPrefixOf(creds) {
  const jwt = /-----BEGIN NATS USER JWT-----\s*(\S+)\s*------END NATS USER JWT------/.exec(creds)?.[1];
  const name = jwt ? JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')).name : undefined;
  return `_INBOX_${String(name || 'anonymous').replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

async function microservice() {
  const { connect, credsAuthenticator, JSONCodec } = require('nats');
  const credsFile = process.env.HEALTHCHECK_CREDS || join(process.env.NATS_CREDS_DIR || '/data/nats/creds', 'gateway.creds');
  const creds = readFileSync(credsFile, 'utf8');
  const nc = await connect({
    servers: process.env.NATS_URL || 'nats://nats:4222',
    authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    inboxPrefix: inboxPrefixOf(creds),
    name: `healthcheck-${service}`,
    timeout: 3000,
  });
  try {
    const subject = `cmd.${service}.health`;
    const codec = JSONCodec();
    const msg = await nc.request(subject, codec.encode({ pattern: subject, data: {}, id: randomUUID() }), { timeout: 3000 });
    const reply = codec.decode(msg.data);
    if (reply.err || !reply.response || reply.response.status !== 'up') fail(`${subject} answered ${JSON.stringify(reply)}`);
    console.log(`${service}: up`);
  } finally {
    await nc.close();
  }
}

const check = service === 'gateway' ? gateway : service === 'agent' ? async () => console.log('agent: not checked') : microservice;
check().then(
  () => process.exit(0),
  (error) => fail(error && error.message ? error.message : String(error)),
);
