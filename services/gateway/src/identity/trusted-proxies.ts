/**
 * `TRUSTED_PROXIES`: comma-separated addresses or CIDRs of the reverse proxies in front of the
 * gateway (e.g. `10.0.0.5, 10.1.0.0/16`). Only a request arriving from one of them may name the
 * client in `X-Forwarded-For`; from anywhere else the header is ignored and the socket's address
 * is the client (the login limiter counts by it). Unset or empty: no proxy is trusted.
 */
export function trustedProxiesFromEnv(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}
