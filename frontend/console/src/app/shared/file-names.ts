/**
 * A file or directory name typed by the user, or why it cannot be one. Names never hold `/` (a
 * rename stays in its directory) and are never `.` or `..` (the agent refuses traversal anyway).
 */
export function nameProblem(name: string): string | null {
  const n = name.trim();
  if (!n) return 'A name is required';
  if (n.includes('/')) return 'A name cannot contain /';
  if (n === '.' || n === '..') return 'Not a valid name';
  if (new TextEncoder().encode(n).length > 255) return 'At most 255 bytes';
  return null;
}

/** Why a path is not acceptable for the user's drive (`/a/b`), or null: each segment a valid name. */
export function pathProblem(path: string): string | null {
  const p = path.trim();
  if (!p.startsWith('/')) return 'A path starts with /';
  if (p === '/') return 'Not the root folder';
  for (const segment of p.slice(1).split('/')) {
    const problem = nameProblem(segment);
    if (problem) return `${problem} (in "${segment || '//'}")`;
  }
  return null;
}

/** The path of `name` inside folder `dir` (`/` is the root). */
export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** Breadcrumbs of a path from the root, named `rootName`: `/a/b` → root, `/a`, `/a/b`. */
export function pathCrumbs(path: string, rootName: string): { name: string; path: string }[] {
  const out = [{ name: rootName, path: '/' }];
  let at = '';
  for (const segment of path.split('/').filter(Boolean)) out.push({ name: segment, path: (at += `/${segment}`) });
  return out;
}
