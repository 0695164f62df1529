import type { Request } from 'express';
import { isSafeGatewayUrl } from './install-script';

/**
 * The gateway's address as agents reach it: `ENCEDEUS_PUBLIC_URL` when set,
 * else the scheme and Host of the request (behind a trusted proxy, its X-Forwarded-Proto), so the
 * install line and install.sh point at the gateway the operator is talking to. Anything a shell
 * could read is refused for http://localhost:8080.
 */
export function gatewayPublicUrl(req: Request, configured = process.env.ENCEDEUS_PUBLIC_URL): string {
  const fromConfig = configured;
  if (fromConfig) {
    const trimmed = fromConfig.replace(/\/+$/, '');
    if (isSafeGatewayUrl(trimmed)) return trimmed;
  }
  const host = req.get('host') ?? '';
  const url = `${req.protocol === 'https' ? 'https' : 'http'}://${host}`;
  return isSafeGatewayUrl(url) && host.length > 0 ? url : 'http://localhost:8080';
}

/** The one line an operator runs on a new node, for this gateway (the token alphabet needs no quoting). */
export function installLine(req: Request, token: string): string {
  return `curl -fsSL ${gatewayPublicUrl(req)}/agent/install.sh | sh -s -- --token ${token}`;
}
