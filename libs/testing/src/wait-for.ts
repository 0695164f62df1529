/**
 * Polls `probe` every 100 ms until it answers something truthy, and answers that; after
 * `timeoutMs` throws `timed out waiting for <what>` with the probe's last error and `context()`
 * (e.g. the tail of the agents' output) appended. A probe that throws is retried.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false | null>, timeoutMs = 20_000, context: () => string = () => ''): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const extra = context();
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}${extra ? `\n${extra}` : ''}`);
}
