import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { streamReplicas } from '@encedeus/messaging';
import { SERVICES } from './scripts/replicas';

// js-yaml is in the lockfile (through jest) and has no types here; two functions are all we use.
const yaml = require('js-yaml') as { load(text: string): any; loadAll(text: string): any[] };

const root = join(__dirname, '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const SERVICE_DOCKERFILE = 'infra/docker/Dockerfile.service';

/**
 * docker-compose.yml and infra/k8s say what the code does: every long-running container restarts
 * with back-off and has a health check, Kubernetes runs 2 replicas of every service on a 3-node
 * NATS cluster with R3 streams, and both run the services `npm run dev` runs.
 */
describe('docker-compose.yml', () => {
  const compose = yaml.load(read('docker-compose.yml'));
  const services: Record<string, any> = compose.services;
  const oneShot = (name: string) => Object.values(services).some((s: any) => s.depends_on?.[name]?.condition === 'service_completed_successfully');

  it('restarts every long-running container unless it was stopped; one-shot init jobs never', () => {
    for (const [name, service] of Object.entries(services)) {
      expect([name, service.restart]).toEqual([name, oneShot(name) ? 'no' : 'unless-stopped']);
    }
  });

  it('gives every long-running container a health check (its own or the service image\'s healthcheck.js)', () => {
    const dockerfile = read(SERVICE_DOCKERFILE);
    expect(dockerfile).toMatch(/^HEALTHCHECK [^\n]*\\\n\s+CMD \["node", "infra\/docker\/healthcheck.js"\]/m);
    for (const [name, service] of Object.entries(services)) {
      if (oneShot(name)) continue;
      expect([name, service.healthcheck?.disable ?? false]).toEqual([name, false]);
      const own = Array.isArray(service.healthcheck?.test) && service.healthcheck.test.length > 1;
      const fromImage = service.build?.dockerfile === SERVICE_DOCKERFILE && typeof service.environment?.SERVICE === 'string';
      expect([name, own || fromImage]).toEqual([name, true]);
    }
  });

  it('runs every service npm run dev runs, and the gateway, from the one service image', () => {
    const fromImage = Object.entries(services).filter(([name, s]) => s.build?.dockerfile === SERVICE_DOCKERFILE && !oneShot(name) && !s.profiles);
    expect(fromImage.map(([, s]) => s.environment.SERVICE).sort()).toEqual([...SERVICES, 'gateway'].sort());
  });

  it('keeps one stream replica per nats-server it runs', () => {
    const natsServers = Object.values(services).filter((s: any) => /^nats:/.test(s.image ?? '')).length;
    for (const service of SERVICES) {
      expect(streamReplicas(services[service].environment)).toBe(natsServers);
    }
  });
});

describe('infra/k8s', () => {
  const docs = ['services.yaml', 'nats.yaml'].flatMap((f) => yaml.loadAll(read(`infra/k8s/${f}`))).filter(Boolean);
  const deployments = docs.filter((d) => d.kind === 'Deployment');
  const config = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'encedeus-config');
  const nats = docs.find((d) => d.kind === 'StatefulSet' && d.metadata.name === 'nats');

  it('deploys every service npm run dev runs, and the gateway, each with at least 2 replicas', () => {
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([...SERVICES, 'gateway'].sort());
    for (const d of deployments) expect([d.metadata.name, d.spec.replicas >= 2]).toEqual([d.metadata.name, true]);
  });

  it('restarts every crashed container (restartPolicy Always)', () => {
    for (const d of [...deployments, nats]) expect([d.metadata.name, d.spec.template.spec.restartPolicy ?? 'Always']).toEqual([d.metadata.name, 'Always']);
  });

  it('probes the gateway for liveness (healthcheck.js on /api/v1/health) and readiness', () => {
    const gateway = deployments.find((d) => d.metadata.name === 'gateway').spec.template.spec.containers[0];
    expect(gateway.livenessProbe.exec.command).toEqual(['node', 'infra/docker/healthcheck.js']);
    expect(gateway.readinessProbe.httpGet.port).toBe('http');
    expect(read('infra/docker/healthcheck.js')).toContain('/api/v1/health');
  });

  it('probes every nats-server and runs 3 of them, clustered, with R3 streams', () => {
    const container = nats.spec.template.spec.containers[0];
    expect(container.livenessProbe).toBeDefined();
    expect(container.readinessProbe).toBeDefined();
    expect(nats.spec.replicas).toBe(3);
    const routes = /routes: \[([^\]]*)\]/.exec(docs.find((d) => d.metadata.name === 'nats-config').data['nats.conf'])![1].trim().split(/\s+/);
    expect(routes).toHaveLength(3);
    expect(config.data.NATS_STREAM_REPLICAS).toBe('3');
    expect(streamReplicas(config.data)).toBe(3);
  });

  it('deploys as many nodes replicas as docs/fleet.md and docs/configuration.md say', () => {
    const replicas = (name: string) => deployments.find((d) => d.metadata.name === name).spec.replicas;
    expect(Number(/infra\/k8s deploys (\d+)/.exec(read('docs/fleet.md'))?.[1])).toBe(replicas('nodes'));
    const row = read('docs/configuration.md').split('\n').find((l) => l.startsWith('| replicas |'))!;
    expect(row).toContain(`| ${replicas('nodes')} of every service and gateway |`);
    expect(new Set(deployments.map((d) => d.spec.replicas)).size).toBe(1);
  });

  it('gives every service the shared config and its SERVICE name', () => {
    for (const d of deployments) {
      const container = d.spec.template.spec.containers[0];
      expect(container.envFrom).toEqual([{ configMapRef: { name: 'encedeus-config' } }]);
      expect(container.env.find((e: any) => e.name === 'SERVICE').value).toBe(d.metadata.name);
    }
  });
});
