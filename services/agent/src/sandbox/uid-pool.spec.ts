import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseUidRange, UidPool } from './uid-pool';

describe('UidPool', () => {
  let dir: string;

  beforeAll(async () => (dir = await mkdtemp(join(tmpdir(), 'encedeus-uids-'))));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('gives each key its own uid inside the range, and the same one again', async () => {
    const pool = new UidPool({ first: 300_000, last: 300_002 });

    const uids = [await pool.allocate('a'), await pool.allocate('b'), await pool.allocate('c')];

    expect(new Set(uids).size).toBe(3);
    expect(uids.every((uid) => uid >= 300_000 && uid <= 300_002)).toBe(true);
    expect(await pool.allocate('b')).toBe(uids[1]);
    await expect(pool.allocate('d')).rejects.toThrow(/no free uid/);
  });

  it('hands a released uid out again', async () => {
    const pool = new UidPool({ first: 300_000, last: 300_000 });
    const first = await pool.allocate('a');

    await pool.release('a');

    expect(await pool.allocate('b')).toBe(first);
  });

  it('keeps assignments in its file (0600) across instances', async () => {
    const file = join(dir, 'uids.json');
    const uid = await new UidPool({ first: 200_000, last: 249_999 }, file).allocate('server-1');

    const again = await new UidPool({ first: 200_000, last: 249_999 }, file).allocate('server-1');

    expect(again).toBe(uid);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('parses ranges and refuses system uids and inverted ranges', () => {
    expect(parseUidRange('200000-249999')).toEqual({ first: 200_000, last: 249_999 });
    expect(parseUidRange('0-100')).toBeUndefined();
    expect(parseUidRange('5000-4000')).toBeUndefined();
    expect(parseUidRange('abc')).toBeUndefined();
  });
});
