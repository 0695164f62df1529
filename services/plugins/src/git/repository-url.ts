import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { isPublicAddress } from '../delivery/plugin-http';

/**
 * Which repository URLs the service fetches. In production only `https://…`, `ssh://…` and
 * `user@host:path` (scp-like ssh), to a host whose every address is public: not loopback, private,
 * link-local (the cloud metadata address), CGNAT or reserved — a catalog URL must not make the
 * service read this machine's or the LAN's services. `file://`, `http://`, `git://`, `ext::` and
 * the other transports are refused, and git itself is held to them (GIT_ALLOW_PROTOCOL).
 *
 * `allowLocal` (PluginsModuleOptions.git.allowLocalRepositories) also takes `file://`, `http://`
 * and internal addresses: tests use local repositories. main.ts never sets it and no REST body or
 * environment variable reaches it.
 */
export interface RepositoryUrlPolicy {
  allowLocal?: boolean;
  /** Resolves a host name to its addresses (tests); dns.lookup by default. */
  lookup?: (hostname: string) => Promise<string[]>;
}

/** A URL the policy took: where git may connect (the pinned addresses) and with which transports. */
export interface CheckedRepositoryUrl {
  url: string;
  kind: 'https' | 'ssh' | 'local';
  host: string;
  port: number;
  /** Every address `host` resolved to when checked; git connects to these only (no second lookup, so no rebinding). */
  addresses: string[];
}

export class RepositoryUrlError extends Error {}

const SCP_LIKE = /^([A-Za-z0-9._-]+)@([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?!\/\/)([^\s]+)$/;

function parse(url: string, allowLocal: boolean): { kind: CheckedRepositoryUrl['kind']; host: string; port: number } {
  const scp = SCP_LIKE.exec(url);
  if (scp) return { kind: 'ssh', host: scp[2].replace(/^\[|\]$/g, ''), port: 22 };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RepositoryUrlError('not a URL');
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  switch (parsed.protocol) {
    case 'https:':
      return { kind: 'https', host, port: Number(parsed.port || 443) };
    case 'ssh:':
      return { kind: 'ssh', host, port: Number(parsed.port || 22) };
    case 'file:':
    case 'http:':
    case 'git:':
      if (allowLocal) return { kind: 'local', host, port: Number(parsed.port || 0) };
      throw new RepositoryUrlError(`${parsed.protocol}// repositories are refused: use https:// or ssh`);
    default:
      throw new RepositoryUrlError(`the ${parsed.protocol.replace(/:$/, '')} transport is refused: use https:// or ssh`);
  }
}

/**
 * Checks a repository URL against the policy and resolves its host: throws RepositoryUrlError when
 * refused. Called when a repository is added (422) and again before every fetch (the sync fails),
 * whose git connects only to the addresses returned here.
 */
export async function checkRepositoryUrl(url: string, policy: RepositoryUrlPolicy = {}): Promise<CheckedRepositoryUrl> {
  const allowLocal = policy.allowLocal === true;
  if (url.startsWith('-')) throw new RepositoryUrlError('a URL may not start with "-"');
  const { kind, host, port } = parse(url, allowLocal);
  if (kind === 'local') return { url, kind, host, port, addresses: [] };
  if (!host) throw new RepositoryUrlError('the URL has no host');
  if (!isIP(host) && !/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$/.test(host)) throw new RepositoryUrlError('the host is not a plain DNS name or IP address');
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = policy.lookup ? await policy.lookup(host) : (await dnsLookup(host, { all: true })).map((a) => a.address);
    } catch (error) {
      throw new RepositoryUrlError(`${host} does not resolve (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  }
  if (addresses.length === 0) throw new RepositoryUrlError(`${host} does not resolve`);
  const internal = addresses.find((a) => !isPublicAddress(a));
  if (internal && !allowLocal) throw new RepositoryUrlError(`${host} resolves to an internal address (${internal}): loopback, private, link-local and reserved ranges are refused`);
  return { url, kind, host, port, addresses };
}

/** Git's `-c` options and environment that hold a fetch to a checked URL: its transports only, its addresses only, no redirects. */
export function pinnedGit(checked: CheckedRepositoryUrl): { config: string[]; env: Record<string, string> } {
  if (checked.kind === 'local') return { config: ['-c', 'http.followRedirects=false'], env: { GIT_ALLOW_PROTOCOL: 'file:https:http:ssh:git' } };
  if (checked.kind === 'https') {
    const addresses = checked.addresses.map((a) => (isIP(a) === 6 ? `[${a}]` : a)).join(',');
    return {
      config: ['-c', 'http.followRedirects=false', ...(isIP(checked.host) ? [] : ['-c', `http.curloptResolve=${checked.host}:${checked.port}:${addresses}`])],
      env: { GIT_ALLOW_PROTOCOL: 'https' },
    };
  }
  // ssh: connect to the checked address, known hosts kept under the name.
  const sshHost = isIP(checked.host) ? '' : ` -oHostName=${checked.addresses[0]} -oHostKeyAlias=${checked.host}`;
  return {
    config: [],
    env: { GIT_ALLOW_PROTOCOL: 'ssh', GIT_SSH_COMMAND: `ssh -F /dev/null -oBatchMode=yes -oStrictHostKeyChecking=accept-new -oProxyCommand=none${sshHost}` },
  };
}
