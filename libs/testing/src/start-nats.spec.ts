import { createServer, type Server } from 'node:net';
import { freePort } from './free-port';
import { startNats } from './start-nats';

/** CI saw a client wait 20 s for an INFO because another test's listener had taken the port freePort() handed out. */
describe('startNats on a port someone else holds', () => {
  let squatter: Server;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    squatter = createServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => squatter.close(() => resolve())));

  it('fails at start instead of handing out a server that is not ours', async () => {
    await expect(startNats({ port })).rejects.toThrow(/address already in use|port taken/);
  });

  it('starts on a free port and names its own server', async () => {
    const nats = await startNats();
    expect(nats.port).not.toBe(port);
    await nats.stop();
  });
});
