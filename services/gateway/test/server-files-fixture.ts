import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, type Stack, type StackAgent } from './stack-harness';

/**
 * A server whose own process (the process driver, as the server's uid) plants symlinks out of its
 * directory when it starts: absolute and relative, to a file and to a directory (issue 11). The
 * relative ones reach the agent's data directory, where AGENT_SECRET is written (beside identity.json).
 */
export const PLANTING_STARTUP = [
  'ln -s /etc abs-dir',
  'ln -s /etc/hostname abs-file',
  'ln -s ../.. rel-dir',
  'ln -s ../../agent-secret.txt rel-file',
  'mkdir -p nested',
  'ln -s ../../../agent-secret.txt nested/deep-file',
  'echo "Server ready"',
  'exec sleep 3600',
].join('; ');

/** The real stack, one node with a real agent, and one running server made from a planting template. */
export interface FilesWorld {
  stack: Stack;
  admin: string;
  nodeId: string;
  agent: StackAgent;
  /** Creates a server (owner: `ownerId` or the admin; `diskMb` its disk limit, 100 by default) and waits until its process has planted its links. */
  server(name: string, ownerId?: string, diskMb?: number): Promise<{ id: string; dir: string }>;
  /** A user holding exactly `permissions`, signed in. */
  userWith(name: string, permissions: string[]): Promise<{ id: string; token: string }>;
}

export const as = (token: string) => `Bearer ${token}`;

/** A file in the agent's data directory the planted links point at (its credentials live there too). */
export const AGENT_SECRET = { name: 'agent-secret.txt', text: 'agent-only secret 3f1c9e\n' };

/** What the world runs beside the fleet. */
export interface FilesWorldOptions {
  /** Run the files service too (VFS import/export). @default false */
  files?: boolean;
}

export async function startFilesWorld(options: FilesWorldOptions = {}): Promise<FilesWorld> {
  const stack = await startStack({ files: options.files ? {} : false });
  const admin = await stack.adminToken();
  const http = stack.http;
  const node = await http().post('/api/v1/nodes').set('Authorization', as(admin)).send({ name: 'files-node', memory_mb: 8192, cpu_percent: 800, storage_size: '20G' });
  const nodeId = node.body.id as string;
  const agent = stack.startAgent(node.body.enrollment.token);
  writeFileSync(join(agent.dataDir, AGENT_SECRET.name), AGENT_SECRET.text, { mode: 0o600 });
  await stack.waitFor('node online', async () => (await http().get(`/api/v1/nodes/${nodeId}`).set('Authorization', as(admin))).body.state === 'online', 60_000);
  const template = await http()
    .post('/api/v1/templates')
    .set('Authorization', as(admin))
    .send({ name: 'symlink planter', driver: 'process', startup: PLANTING_STARTUP, ready_pattern: 'Server ready', stop: { signal: 'SIGKILL', timeout_s: 5 }, limits: { memory_mb: 64, cpu_percent: 50, disk_mb: 100 } });
  if (template.status !== 201) throw new Error(`template: ${template.status} ${JSON.stringify(template.body)}`);

  return {
    stack,
    admin,
    nodeId,
    agent,
    async server(name, ownerId, diskMb = 100) {
      const created = await http()
        .post('/api/v1/servers')
        .set('Authorization', as(admin))
        .send({ name, template_id: template.body.id, node_id: nodeId, ...(ownerId ? { owner_id: ownerId } : {}), limits: { memory_mb: 64, cpu_percent: 50, disk_mb: diskMb } });
      if (created.status !== 201) throw new Error(`server: ${created.status} ${JSON.stringify(created.body)}`);
      const id = created.body.id as string;
      const state = async () => (await http().get(`/api/v1/servers/${id}`).set('Authorization', as(admin))).body.state as string;
      let seen = '';
      await stack.waitFor('installed', async () => (seen = await state()) === 'offline', 60_000).catch(async (e: Error) => {
        // What the fleet knew when the install did not end: the server and its node as REST shows them.
        const server = (await http().get(`/api/v1/servers/${id}`).set('Authorization', as(admin))).body;
        const node = (await http().get(`/api/v1/nodes/${nodeId}`).set('Authorization', as(admin))).body;
        throw new Error(`${e.message}\n(server ${id} last seen ${seen}: ${JSON.stringify(server).slice(0, 800)}\nnode: ${JSON.stringify({ status: node.status, online: node.online, last_heartbeat: node.last_heartbeat ?? node.lastHeartbeat })})`);
      });
      const started = await http().post(`/api/v1/servers/${id}/power`).set('Authorization', as(admin)).send({ action: 'start' });
      if (started.status !== 200) throw new Error(`start: ${started.status} ${JSON.stringify(started.body)}`);
      let last = '';
      await stack.waitFor('running', async () => (last = await state()) === 'running', 60_000).catch((e: Error) => {
        throw new Error(`${e.message}\n(server ${id} last seen ${last})`);
      });
      return { id, dir: join(agent.dataDir, 'volumes', id) };
    },
    async userWith(name, permissions) {
      const role = await http().post('/api/v1/roles').set('Authorization', as(admin)).send({ name: `${name}-role`, permissions });
      if (role.status !== 201) throw new Error(`role: ${role.status} ${JSON.stringify(role.body)}`);
      const user = await http().post('/api/v1/users').set('Authorization', as(admin)).send({ name, email: `${name}@files.test`, password: `${name} password 1`, role_name: `${name}-role` });
      if (user.status !== 201) throw new Error(`user: ${user.status} ${JSON.stringify(user.body)}`);
      const login = await http().post('/api/v1/auth/login').send({ email: `${name}@files.test`, password: `${name} password 1` });
      if (login.status !== 200) throw new Error(`login: ${login.status} ${JSON.stringify(login.body)}`);
      return { id: user.body.id, token: login.body.accessToken };
    },
  };
}
