/** Parses a size such as `1G`, `512M`, `2048` (MiB) or `10GB` into MiB. Returns undefined when it is not a size. */
export function parseSizeMb(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  const factor: Record<string, number> = { '': 1, k: 1 / 1024, m: 1, g: 1024, t: 1024 * 1024 };
  return Math.floor(n * factor[m[2].toLowerCase()]);
}
