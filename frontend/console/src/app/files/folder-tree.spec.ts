import { ancestors, treeRows } from './folder-tree';

describe('folder tree', () => {
  it('lists the root, then the children of every open folder below it', () => {
    const children = new Map<string, string[]>([
      ['/', ['docs', 'photos']],
      ['/docs', ['2025', '2026']],
      ['/photos', ['summer']],
    ]);
    const rows = treeRows(children, new Set(['/', '/docs']));
    expect(rows.map((r) => [r.path, r.depth, r.open])).toEqual([
      ['/', 0, true],
      ['/docs', 1, true],
      ['/docs/2025', 2, false],
      ['/docs/2026', 2, false],
      ['/photos', 1, false],
    ]);
    expect(rows.find((r) => r.path === '/photos')!.loaded).toBe(true);
    expect(rows.find((r) => r.path === '/docs/2025')!.loaded).toBe(false);
  });

  it('a closed root shows only itself; an open folder not loaded yet has no children', () => {
    expect(treeRows(new Map([['/', ['a']]]), new Set()).map((r) => r.path)).toEqual(['/']);
    expect(treeRows(new Map(), new Set(['/'])).map((r) => r.path)).toEqual(['/']);
  });

  it('ancestors run from the root down to the folder', () => {
    expect(ancestors('/')).toEqual(['/']);
    expect(ancestors('/a/b c/d')).toEqual(['/', '/a', '/a/b c', '/a/b c/d']);
  });
});
