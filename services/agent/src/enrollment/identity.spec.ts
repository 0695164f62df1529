import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeIdentity, type AgentIdentity } from './identity';

describe('writeIdentity', () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'encedeus-identity-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('keeps the last of several writes started at once (two credentials pushes raced on the .tmp file)', async () => {
    const identity = (n: number) => ({ node_id: 'n1', creds: `creds-${n}` }) as unknown as AgentIdentity;

    await Promise.all([1, 2, 3, 4, 5].map((n) => writeIdentity(dir, identity(n))));

    expect(JSON.parse(await readFile(join(dir, 'identity.json'), 'utf8')).creds).toBe('creds-5');
  });
});
