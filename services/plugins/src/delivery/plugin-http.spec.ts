import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pluginCapabilities } from './capabilities';
import { isPublicAddress } from './plugin-http';

/**
 * ctx.http against a host NAME that resolves to this machine: a plugin granted `http:localhost:<port>`
 * (or any name its owner points at 127.0.0.1 or a private range) must not reach the gateway, NATS
 * monitoring or Postgres on loopback. An IP literal grant is the administrator's explicit choice.
 */
describe('ctx.http and internal addresses', () => {
  let server: Server;
  let port: number;
  let hits = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ secret: 'internal', path: req.url }));
    });
    // Every interface, both families: `localhost` reaches it whether it resolves to ::1 or 127.0.0.1.
    await new Promise<void>((resolve) => server.listen(0, resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const ctx = (permissions: string[]) => pluginCapabilities('00000000-0000-4000-8000-000000000001', permissions, { nc: undefined as never, commands: undefined as never, httpTimeoutMs: 3000 });

  it('refuses a granted name that resolves to loopback, and never connects', async () => {
    hits = 0;
    await expect(ctx([`http:localhost:${port}`])('http.get', [`http://localhost:${port}/varz`])).rejects.toThrow(/internal address/);
    await expect(ctx([`http:localhost:${port}`])('http.post', [`http://localhost:${port}/hook`, { a: 1 }])).rejects.toThrow(/internal address/);
    expect(hits).toBe(0);
  });

  it('still reaches an explicitly granted IP literal (bounded, no redirects)', async () => {
    hits = 0;
    const res = (await ctx([`http:127.0.0.1:${port}`])('http.get', [`http://127.0.0.1:${port}/x`])) as { status: number; json: { path: string } };
    expect(res.status).toBe(200);
    expect(res.json.path).toBe('/x');
    const posted = (await ctx([`http:127.0.0.1:${port}`])('http.post', [`http://127.0.0.1:${port}/y`, { a: 1 }])) as { status: number };
    expect(posted.status).toBe(200);
    expect(hits).toBe(2);
  });

  it('keeps one connection alive across a plugin\'s posts (no TCP connect per event), closed with the plugin', async () => {
    const sockets = new Set<unknown>();
    const onConnection = (socket: unknown) => sockets.add(socket);
    server.on('connection', onConnection);
    try {
      const caps = ctx([`http:127.0.0.1:${port}`]);
      for (let i = 0; i < 5; i++) expect(((await caps('http.post', [`http://127.0.0.1:${port}/hook`, { i }])) as { status: number }).status).toBe(200);
      expect(sockets.size).toBe(1);
      caps.close();
      expect(((await caps('http.get', [`http://127.0.0.1:${port}/again`])) as { status: number }).status).toBe(200);
      expect(sockets.size).toBe(2);
      caps.close();
    } finally {
      server.off('connection', onConnection);
    }
  });

  it('classifies addresses', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:7f00:1', 'not-an-ip']) {
      expect([a, isPublicAddress(a)]).toEqual([a, false]);
    }
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:2800:220:1:248:1893:25c7:1946']) expect([a, isPublicAddress(a)]).toEqual([a, true]);
  });
});
