import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { connect, credsAuthenticator, headers as natsHeaders, type NatsConnection } from 'nats';
import { io as connectSocket } from 'socket.io-client';
import { extract } from 'tar-stream';
import { chunkBuffer, type ChunkStore } from '@encedeus/chunks';
import { BACKUP_HEADERS, Subjects } from '@encedeus/contracts';
import { ChunkGc } from '../../files/src/gc/chunk-gc';
import { CHUNK_STORE } from '../../files/src/files.tokens';
import { BackupSessions } from '../../files/src/backups/backup-sessions';
import { FilesModule } from '../../files/src/files.module';
import { startServiceApp } from '@encedeus/messaging';
import { startStack, type Stack, type StackAgent } from './stack-harness';

const as = (token: string) => `Bearer ${token}`;

/** path → sha256 (files), 'dir' (directories), with modes; symlinks and the like are left out, as backups leave them out. */
function tree(root: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(root, prefix)).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const st = lstatSync(join(root, rel));
    if (st.isDirectory()) {
      out[rel] = `dir ${(st.mode & 0o777).toString(8)}`;
      Object.assign(out, tree(root, rel));
    } else if (st.isFile()) {
      out[rel] = `${createHash('sha256').update(readFileSync(join(root, rel))).digest('hex')} ${(st.mode & 0o777).toString(8)} ${Math.floor(st.mtimeMs / 1000)}`;
    }
  }
  return out;
}

/** Issue 11 "Backups": a real agent process backs up a server's directory into the chunk store through the files service, and restores it. */
describe('server backups (REST, files service, a real agent)', () => {
  let stack: Stack;
  let admin: string;
  let nodeId: string;
  let agent: StackAgent;
  let templateId: string;
  let server: { id: string; dir: string };
  const http = () => stack.http();
  const base = (id = server.id) => `/api/v1/servers/${id}/backups`;

  async function makeServer(name: string, ownerId?: string): Promise<{ id: string; dir: string }> {
    const created = await http()
      .post('/api/v1/servers')
      .set('Authorization', as(admin))
      .send({ name, template_id: templateId, node_id: nodeId, ...(ownerId ? { owner_id: ownerId } : {}), limits: { memory_mb: 64, cpu_percent: 50, disk_mb: 1024 } });
    if (created.status !== 201) throw new Error(`server: ${created.status} ${JSON.stringify(created.body)}`);
    const id = created.body.id as string;
    await stack.waitFor('installed', async () => (await http().get(`/api/v1/servers/${id}`).set('Authorization', as(admin))).body.state === 'offline', 60_000);
    return { id, dir: join(agent.dataDir, 'volumes', id) };
  }

  async function userWith(name: string, permissions: string[]): Promise<{ id: string; token: string }> {
    const role = await http().post('/api/v1/roles').set('Authorization', as(admin)).send({ name: `${name}-role`, permissions });
    if (role.status !== 201) throw new Error(`role: ${role.status} ${JSON.stringify(role.body)}`);
    const user = await http().post('/api/v1/users').set('Authorization', as(admin)).send({ name, email: `${name}@backups.test`, password: `${name} password 1`, role_name: `${name}-role` });
    if (user.status !== 201) throw new Error(`user: ${user.status} ${JSON.stringify(user.body)}`);
    const login = await http().post('/api/v1/auth/login').send({ email: `${name}@backups.test`, password: `${name} password 1` });
    return { id: user.body.id, token: login.body.accessToken };
  }

  async function backupDone(id: string, serverId = server.id, timeoutMs = 60_000): Promise<Record<string, any>> {
    return stack.waitFor(
      `backup ${id} ended`,
      async () => {
        const res = await http().get(`${base(serverId)}/${id}`).set('Authorization', as(admin));
        return res.body.status === 'completed' || res.body.status === 'failed' ? res.body : undefined;
      },
      timeoutMs,
    );
  }

  async function takeBackup(name?: string): Promise<Record<string, any>> {
    const res = await http().post(base()).set('Authorization', as(admin)).send(name ? { name } : {});
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ id: expect.any(String), status: expect.stringMatching(/^(pending|running)$/) });
    return backupDone(res.body.id);
  }

  async function restoreDone(bid: string, body: object = {}): Promise<Record<string, any>> {
    const res = await http().post(`${base()}/${bid}/restore`).set('Authorization', as(admin)).send(body);
    expect([res.status, res.body.restore?.status]).toEqual([202, expect.stringMatching(/^(pending|running)$/)]);
    const restoreId = res.body.restore.id;
    return stack.waitFor(
      'restore ended',
      async () => {
        const b = (await http().get(`${base()}/${bid}`).set('Authorization', as(admin))).body;
        return b.restore?.id === restoreId && (b.restore.status === 'completed' || b.restore.status === 'failed') ? b.restore : undefined;
      },
      60_000,
    );
  }

  beforeAll(async () => {
    stack = await startStack({ files: FILES_OPTIONS });
    admin = await stack.adminToken();
    const node = await http().post('/api/v1/nodes').set('Authorization', as(admin)).send({ name: 'backup-node', memory_mb: 8192, cpu_percent: 800, storage_size: '20G' });
    nodeId = node.body.id;
    agent = stack.startAgent(node.body.enrollment.token);
    await stack.waitFor('node online', async () => (await http().get(`/api/v1/nodes/${nodeId}`).set('Authorization', as(admin))).body.state === 'online', 30_000);
    const template = await http()
      .post('/api/v1/templates')
      .set('Authorization', as(admin))
      .send({ name: 'backup sleeper', driver: 'process', startup: 'echo "Server ready"; exec sleep 3600', ready_pattern: 'Server ready', stop: { signal: 'SIGKILL', timeout_s: 5 }, limits: { memory_mb: 64, cpu_percent: 50, disk_mb: 1024 } });
    templateId = template.body.id;
    server = await makeServer('backed-up');

    // The server's files: a large random file (several chunks), small ones, nested directories, odd modes, a symlink out.
    const owner = statSync(server.dir);
    const put = (rel: string, data: Buffer | string, mode = 0o644) => {
      mkdirSync(join(server.dir, rel, '..'), { recursive: true });
      writeFileSync(join(server.dir, rel), data, { mode });
      chmodSync(join(server.dir, rel), mode);
      chownSync(join(server.dir, rel), owner.uid, owner.gid);
    };
    put('world/region.bin', randomBytes(6 * 1024 * 1024));
    put('world/level.dat', randomBytes(100_000));
    put('server.properties', 'motd=backed up\n');
    put('secret.txt', 'only me\n', 0o600);
    put('plugins/a/config.yml', 'a: 1\n');
    put('empty.txt', '');
    mkdirSync(join(server.dir, 'logs'));
    symlinkSync('/etc', join(server.dir, 'etc-link'));
  }, 240_000);

  const FILES_OPTIONS = { backups: { stallMs: 8000, sweepMs: 250, limit: 4, lease: { ttlMs: 2000 } } };
  /** The files service started again by a test (stack.stop closes only the one it started). */
  let restartedFiles: Awaited<ReturnType<typeof startServiceApp>> | undefined;

  afterAll(async () => {
    await restartedFiles?.close().catch(() => undefined);
    await stack?.stop();
  });

  let first: Record<string, any>;
  let original: Record<string, string>;

  it('takes a backup (its progress and outcome pushed to the server room), then a second one of the unchanged server that stores (almost) nothing new', async () => {
    original = tree(server.dir);
    const socket = connectSocket(stack.gateway.url, { path: '/socket.io', transports: ['websocket'], auth: { token: admin }, reconnection: false, forceNew: true });
    const pushes: { backupId: string; event: string }[] = [];
    socket.on('server.backup', (m: { backupId: string; event: string }) => pushes.push(m));
    await new Promise<void>((resolve, reject) => (socket.once('connect', () => resolve()), socket.once('connect_error', reject)));
    expect(await socket.emitWithAck('subscribe', { room: `server:${server.id}` })).toMatchObject({ ok: true });
    first = await takeBackup('first');
    await stack.waitFor('backup.completed pushed', async () => pushes.some((p) => p.backupId === first.id && p.event === 'backup.completed'), 10_000);
    expect(pushes.filter((p) => p.backupId === first.id).map((p) => p.event)).toEqual(expect.arrayContaining(['backup.requested', 'backup.started', 'backup.completed']));
    socket.close();
    expect(first.reason).toBeUndefined();
    expect(first).toMatchObject({ status: 'completed', name: 'first', files_count: 6 });
    expect(first.size).toBe(6 * 1024 * 1024 + 100_000 + 'motd=backed up\n'.length + 'only me\n'.length + 'a: 1\n'.length);
    expect(first.new_bytes).toBeGreaterThan(6 * 1024 * 1024);

    const second = await takeBackup();
    expect([second.status, second.reason]).toEqual(['completed', undefined]);
    expect(second.size).toBe(first.size);
    expect(second.new_bytes).toBeLessThan(64 * 1024);

    const list = await http().get(base()).query({ limit: 1 }).set('Authorization', as(admin));
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0].id).toBe(second.id);
    const next = await http().get(base()).query({ limit: 1, cursor: list.body.nextCursor }).set('Authorization', as(admin));
    expect(next.body.items.map((b: { id: string }) => b.id)).toEqual([first.id]);
    expect(next.body.nextCursor).toBeNull();
  }, 120_000);

  it('restores the whole server to the identical tree (the symlink out is gone, extra files removed), and one path', async () => {
    rmSync(join(server.dir, 'world'), { recursive: true });
    writeFileSync(join(server.dir, 'server.properties'), 'motd=changed\n');
    writeFileSync(join(server.dir, 'extra.txt'), 'not in the backup\n');
    expect(tree(server.dir)).not.toEqual(original);

    const restore = await restoreDone(first.id);
    expect(restore.status).toBe('completed');
    const { ['etc-link']: _, ...withoutLink } = original;
    void _;
    expect(tree(server.dir)).toEqual(withoutLink);
    expect(existsSync(join(server.dir, 'extra.txt'))).toBe(false);
    expect(statSync(join(server.dir, 'world/region.bin')).uid).toBe(statSync(server.dir).uid);

    writeFileSync(join(server.dir, 'plugins/a/config.yml'), 'a: 2\n');
    writeFileSync(join(server.dir, 'server.properties'), 'motd=kept\n');
    expect((await restoreDone(first.id, { path: 'plugins' })).status).toBe('completed');
    expect(readFileSync(join(server.dir, 'plugins/a/config.yml'), 'utf8')).toBe('a: 1\n');
    expect(readFileSync(join(server.dir, 'server.properties'), 'utf8')).toBe('motd=kept\n');
  }, 120_000);

  it('downloads a backup as a tar.gz of its files', async () => {
    const res = await http()
      .get(`${base()}/${first.id}/download`)
      .set('Authorization', as(admin))
      .buffer(true)
      .parse((r, done) => {
        const parts: Buffer[] = [];
        r.on('data', (c: Buffer) => parts.push(c));
        r.on('end', () => done(null, Buffer.concat(parts)));
      });
    expect(res.status).toBe(200);
    const files: Record<string, string> = {};
    await new Promise<void>((resolve, reject) => {
      const x = extract();
      x.on('entry', (header, stream, next) => {
        const parts: Buffer[] = [];
        stream.on('data', (c: Buffer) => parts.push(c));
        stream.on('end', () => {
          if (header.type === 'file') files[header.name] = createHash('sha256').update(Buffer.concat(parts)).digest('hex');
          next();
        });
      });
      x.on('finish', resolve);
      x.on('error', reject);
      x.end(gunzipSync(res.body as Buffer));
    });
    const expected = Object.fromEntries(Object.entries(original).filter(([, v]) => !v.startsWith('dir')).map(([k, v]) => [k, v.split(' ')[0]]));
    expect(files).toEqual(expected);
  }, 60_000);

  it('answers 403 to a user without the permission, 404 for a server the user cannot see, 409 at the limit and for a running server restore', async () => {
    const owner = await userWith('backup-owner', ['servers.create', 'files.read']);
    const own = await makeServer('owned', owner.id);
    expect((await http().get(base(own.id)).set('Authorization', as(owner.token))).status).toBe(403);
    const post = await http().post(base(own.id)).set('Authorization', as(owner.token)).send({});
    expect([post.status, post.body.code, post.body.details?.missing]).toEqual([403, 'FORBIDDEN', ['backups.create']]);

    const stranger = await userWith('backup-stranger', ['backups.read', 'backups.create', 'backups.restore', 'backups.delete']);
    expect((await http().get(base()).set('Authorization', as(stranger.token))).status).toBe(404);
    expect((await http().post(base()).set('Authorization', as(stranger.token)).send({})).status).toBe(404);

    for (const b of (await http().get(base()).set('Authorization', as(admin))).body.items as { id: string }[]) await http().delete(`${base()}/${b.id}`).set('Authorization', as(admin));
    for (let i = 0; i < 4; i++) expect((await takeBackup(`limit ${i}`)).status).toBe('completed');
    const over = await http().post(base()).set('Authorization', as(admin)).send({});
    expect([over.status, over.body.code]).toEqual([409, 'BACKUP_LIMIT']);

    const started = await http().post(`/api/v1/servers/${server.id}/power`).set('Authorization', as(admin)).send({ action: 'start' });
    expect(started.status).toBe(200);
    await stack.waitFor('running', async () => (await http().get(`/api/v1/servers/${server.id}`).set('Authorization', as(admin))).body.state === 'running', 30_000);
    const listed = (await http().get(base()).set('Authorization', as(admin))).body.items as { id: string }[];
    const traversal = await http().post(`${base()}/${listed[0].id}/restore`).set('Authorization', as(admin)).send({ path: '../../etc' });
    expect([traversal.status, traversal.body.code]).toEqual([422, 'VALIDATION_FAILED']);
    const refused = await http().post(`${base()}/${listed[0].id}/restore`).set('Authorization', as(admin)).send({});
    expect([refused.status, refused.body.details?.reason]).toEqual([409, 'server_running']);
    for (const b of listed) await http().delete(`${base()}/${b.id}`).set('Authorization', as(admin));
  }, 180_000);

  it("refuses chunk calls of another node's agent for this backup, and of this node's agent without the session token", async () => {
    const b = await takeBackup('guarded');
    const sessions = stack.files!.get(BackupSessions);
    const token = await sessions.open(b.id, 'restore', nodeId, '00000000-0000-4000-8000-000000000001');
    const region = chunkBuffer(readFileSync(join(server.dir, 'world/region.bin')))[0];

    const other = await http().post('/api/v1/nodes').set('Authorization', as(admin)).send({ name: 'other-node', memory_mb: 1024, cpu_percent: 100, storage_size: '1G' });
    const otherAgent = stack.startAgent(other.body.enrollment.token);
    await stack.waitFor('other node online', async () => (await http().get(`/api/v1/nodes/${other.body.id}`).set('Authorization', as(admin))).body.state === 'online', 90_000);

    const agentConn = async (dataDir: string): Promise<NatsConnection> => {
      const { creds } = JSON.parse(readFileSync(join(dataDir, 'identity.json'), 'utf8')) as { creds: string };
      return connect({ servers: stack.env.nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)) });
    };
    const getChunk = async (nc: NatsConnection, node: string, withToken: string) => {
      const h = natsHeaders();
      h.set(BACKUP_HEADERS.backup, b.id);
      h.set(BACKUP_HEADERS.token, withToken);
      h.set(BACKUP_HEADERS.hash, region.hash);
      const m = await nc.request(Subjects.command('files', 'backup_get_chunk'), new Uint8Array(), { timeout: 5000, headers: h, noMux: true, reply: Subjects.agentReply(node, `t${Date.now()}`) });
      return m.headers?.get('Encedeus-Error') ? JSON.parse(new TextDecoder().decode(m.data)) : { bytes: m.data.length };
    };
    const mine = await agentConn(agent.dataDir);
    const theirs = await agentConn(otherAgent.dataDir);
    try {
      expect(await getChunk(mine, nodeId, token)).toEqual({ bytes: region.size });
      expect(await getChunk(mine, nodeId, 'A'.repeat(32))).toMatchObject({ code: 'FORBIDDEN' });
      // The other node's agent, with the right token, answered on its own reply subject: another node.
      expect(await getChunk(theirs, other.body.id, token)).toMatchObject({ code: 'FORBIDDEN' });
      // Nor can it take replies on this node's subjects (its NATS user may not subscribe there).
      await expect(getChunk(theirs, nodeId, token)).rejects.toThrow();
    } finally {
      await mine.close();
      await theirs.close();
      await sessions.end(b.id, 'restore');
      await http().delete(`${base()}/${b.id}`).set('Authorization', as(admin));
    }
  }, 180_000);

  it('finishes a backup across a restart of the files service (sessions and progress are not in its memory)', async () => {
    writeFileSync(join(server.dir, 'restart.bin'), randomBytes(64 * 1024 * 1024));
    const res = await http().post(base()).set('Authorization', as(admin)).send({ name: 'across a restart' });
    expect(res.status).toBe(202);
    await stack.waitFor('running', async () => (await http().get(`${base()}/${res.body.id}`).set('Authorization', as(admin))).body.status !== 'pending', 20_000);
    await stack.files!.close();
    const creds = await stack.env.nats.creds('files');
    restartedFiles = await startServiceApp('files', FilesModule.forRoot({ ...FILES_OPTIONS, nats: { servers: stack.env.nats.url, creds }, databaseUrl: stack.env.db.url }), {
      servers: stack.env.nats.url,
      creds,
      logger: ['error'],
    });
    stack.files = restartedFiles;

    const ended = await backupDone(res.body.id, server.id, 150_000);

    expect([ended.status, ended.reason]).toEqual(['completed', undefined]);
    expect(ended.files_count).toBeGreaterThan(6);
    rmSync(join(server.dir, 'restart.bin'));
    await http().delete(`${base()}/${res.body.id}`).set('Authorization', as(admin));
  }, 240_000);

  it('keeps the chunks of backups through garbage collection, and collects them once the backups are deleted', async () => {
    const chunks = stack.files!.get<ChunkStore>(CHUNK_STORE);
    const gc = stack.files!.get(ChunkGc);
    const region = readFileSync(join(server.dir, 'world/region.bin'));
    const hashes = chunkBuffer(region).map((c) => c.hash);
    expect(hashes.length).toBeGreaterThan(1);

    const kept = await takeBackup('kept');
    expect([kept.status, kept.reason]).toEqual(['completed', undefined]);
    await gc.collect({ now: new Date(Date.now() + 3_600_000) });
    for (const h of hashes) expect(await chunks.has(h)).toBe(true);

    const all = (await http().get(base()).set('Authorization', as(admin))).body.items as { id: string }[];
    for (const b of all) expect((await http().delete(`${base()}/${b.id}`).set('Authorization', as(admin))).status).toBe(200);
    expect((await http().get(`${base()}/${first.id}`).set('Authorization', as(admin))).status).toBe(404);
    await gc.collect({ now: new Date(Date.now() + 3_600_000) });
    for (const h of hashes) expect(await chunks.has(h)).toBe(false);
  }, 60_000);

  it('ends a backup whose agent died as failed with a reason, never stuck running', async () => {
    writeFileSync(join(server.dir, 'big.bin'), randomBytes(48 * 1024 * 1024));
    const res = await http().post(base()).set('Authorization', as(admin)).send({ name: 'doomed' });
    expect(res.status).toBe(202);
    await stack.waitFor('running', async () => (await http().get(`${base()}/${res.body.id}`).set('Authorization', as(admin))).body.status !== 'pending', 20_000);
    agent.child.kill('SIGKILL');
    const ended = await backupDone(res.body.id);
    expect(ended.status).toBe('failed');
    expect(ended.reason).toMatch(/stalled|agent/);
  }, 90_000);
});
