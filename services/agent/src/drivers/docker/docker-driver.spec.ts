import type { ServerSpec } from '../driver';
import { containerOptions } from './docker-driver';

describe('containerOptions', () => {
  const spec: ServerSpec = {
    id: 's1',
    dir: '/srv/s1',
    image: 'encedeus/test:latest',
    startup: 'java -jar server.jar',
    env: { EULA: 'true' },
    limits: { memoryMb: 1024, cpuPercent: 150, diskMb: 0 },
    ports: [
      { host: 25565, container: 25565, protocol: 'tcp' },
      { host: 25566, container: 19132, protocol: 'udp', ip: '127.0.0.1' },
    ],
    stop: { command: 'stop', signal: 'SIGINT', timeoutS: 30 },
  };

  it('maps limits, ports, the directory and the label', () => {
    const options = containerOptions(spec, 'bridge', '/data');

    expect(options).toMatchObject({
      name: 'encedeus-s1',
      Cmd: ['/bin/sh', '-c', 'java -jar server.jar'],
      Env: ['EULA=true'],
      Labels: { 'encedeus.server': 's1' },
      OpenStdin: true,
      Tty: false,
      StopSignal: 'SIGINT',
      ExposedPorts: { '25565/tcp': {}, '19132/udp': {} },
      HostConfig: {
        Binds: ['/srv/s1:/data'],
        Memory: 1024 * 1024 * 1024,
        MemorySwap: 1024 * 1024 * 1024,
        NanoCpus: 1.5e9,
        Init: true,
        PortBindings: {
          '25565/tcp': [{ HostIp: '0.0.0.0', HostPort: '25565' }],
          '19132/udp': [{ HostIp: '127.0.0.1', HostPort: '25566' }],
        },
      },
    });
  });

  it('leaves unlimited resources unset and publishes nothing off the bridge', () => {
    const options = containerOptions({ ...spec, limits: { memoryMb: 0, cpuPercent: 0, diskMb: 0 } }, 'none', '/data');

    expect(options.HostConfig).toMatchObject({ Memory: 0, MemorySwap: undefined, NanoCpus: 0, PortBindings: undefined, NetworkMode: 'none' });
  });
});
