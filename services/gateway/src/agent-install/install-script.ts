/**
 * Node flags the agent runs with (systemd unit, the printed command): a 1 MiB young generation and
 * V8's size-over-speed heuristics keep an idle agent's heap small; the agent waits on I/O, not on
 * the CPU. Without them its heap grew to about 50 MiB under console traffic (issue 14).
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size'];

/** What `GET /agent/install.sh` may embed as the gateway's address: a plain http(s) origin and path, nothing a shell would read. */
const SAFE_URL = /^https?:\/\/[A-Za-z0-9.:[\]-]+(\/[A-Za-z0-9._~/-]*)?$/;

export function isSafeGatewayUrl(url: string): boolean {
  return SAFE_URL.test(url) && url.length <= 512;
}

/**
 * The installer (`curl -fsSL <gateway>/agent/install.sh | sh -s -- --token <token>`): POSIX sh under
 * `set -eu`, every expansion quoted, the token checked against the token alphabet and never
 * evaluated. Checks Node >= 20, downloads the bundle from the same gateway, checks it against the
 * SHA-256 the gateway put in the script (a download cut short or altered on the way is refused before
 * anything is unpacked; with `sha256` undefined, when the gateway has no bundle yet, it is only
 * checked to be a bundle), installs it under
 * /opt/encedeus-agent (`--prefix`), trades the token once for the agent's credentials (stored in
 * <prefix>/data, 0600; the token is written nowhere), then writes and starts a systemd unit where
 * systemd runs, else says how to run the agent (`--no-service`: install only).
 */
export function installScript(gatewayUrl: string, sha256?: string): string {
  if (!isSafeGatewayUrl(gatewayUrl)) throw new Error('gateway: unsafe gateway URL for install.sh');
  if (sha256 !== undefined && !/^[0-9a-f]{64}$/.test(sha256)) throw new Error('gateway: a bundle checksum is 64 hex digits');
  return `#!/bin/sh
# Encedeus node agent (Skyhook) installer, served by the gateway at /agent/install.sh.
#   curl -fsSL ${gatewayUrl}/agent/install.sh | sh -s -- --token <enrollment token>
# Options: --token <t> (required unless already enrolled), --prefix <dir> (default /opt/encedeus-agent),
#          --gateway <url>, --no-service (install and enroll only), --name <unit name>.
set -eu

GATEWAY='${gatewayUrl}'
BUNDLE_SHA256='${sha256 ?? ''}'
PREFIX=/opt/encedeus-agent
TOKEN=
SERVICE=1
UNIT=encedeus-agent
# Where systemd is detected and units go (overridable for tests of this script).
SYSTEMD_RUN_DIR=\${ENCEDEUS_SYSTEMD_RUN_DIR:-/run/systemd/system}
UNIT_DIR=\${ENCEDEUS_SYSTEMD_UNIT_DIR:-/etc/systemd/system}

say() { printf '%s\\n' "encedeus-agent: $*"; }
die() { printf '%s\\n' "encedeus-agent: error: $*" >&2; exit 1; }

while [ "$#" -gt 0 ]; do
  case "$1" in
    --token) [ "$#" -ge 2 ] || die "--token needs a value"; TOKEN=$2; shift 2 ;;
    --token=*) TOKEN=\${1#--token=}; shift ;;
    --prefix) [ "$#" -ge 2 ] || die "--prefix needs a value"; PREFIX=$2; shift 2 ;;
    --prefix=*) PREFIX=\${1#--prefix=}; shift ;;
    --gateway) [ "$#" -ge 2 ] || die "--gateway needs a value"; GATEWAY=$2; shift 2 ;;
    --gateway=*) GATEWAY=\${1#--gateway=}; shift ;;
    --name) [ "$#" -ge 2 ] || die "--name needs a value"; UNIT=$2; shift 2 ;;
    --no-service) SERVICE=0; shift ;;
    -h|--help) sed -n '2,5p' "$0" 2>/dev/null || true; exit 0 ;;
    *) die "unknown option: $1" ;;
  esac
done

case "$TOKEN" in
  *[!A-Za-z0-9._-]*) die "the token has characters no enrollment token has" ;;
esac
case "$GATEWAY" in
  http://*|https://*) ;;
  *) die "--gateway must be an http(s) URL" ;;
esac
case "$UNIT" in
  ''|*[!A-Za-z0-9_-]*) die "--name may hold letters, digits, - and _ only" ;;
esac
case "$PREFIX" in
  /*) ;;
  *) PREFIX=$(pwd)/$PREFIX ;;
esac
case "$PREFIX" in
  *[!A-Za-z0-9._/-]*) die "--prefix may hold letters, digits, . _ - and / only" ;;
esac

command -v node >/dev/null 2>&1 || die "Node.js 20 or newer is needed (no node on PATH); install it first, e.g. from https://nodejs.org or your distribution"
NODE=$(command -v node)
MAJOR=$("$NODE" -p 'process.versions.node.split(".")[0]')
case "$MAJOR" in
  ''|*[!0-9]*) die "cannot read the Node.js version" ;;
esac
[ "$MAJOR" -ge 20 ] || die "Node.js 20 or newer is needed (found $("$NODE" -v))"
command -v tar >/dev/null 2>&1 || die "tar is needed"
SYSTEMD=0
if [ "$SERVICE" = 1 ] && [ -d "$SYSTEMD_RUN_DIR" ] && command -v systemctl >/dev/null 2>&1; then
  SYSTEMD=1
  # Checked before anything is downloaded or the token spent.
  [ "$(id -u)" = 0 ] || die "installing the systemd unit needs root (run with sudo, or pass --no-service)"
fi

TMP=$(mktemp -d "\${TMPDIR:-/tmp}/encedeus-agent.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

say "downloading the agent from $GATEWAY"
if command -v curl >/dev/null 2>&1; then
  curl -fsSL "$GATEWAY/agent/encedeus-agent.tgz" -o "$TMP/encedeus-agent.tgz" || die "download failed"
elif command -v wget >/dev/null 2>&1; then
  wget -q -O "$TMP/encedeus-agent.tgz" "$GATEWAY/agent/encedeus-agent.tgz" || die "download failed"
else
  die "curl or wget is needed"
fi
if [ -n "$BUNDLE_SHA256" ]; then
  if command -v sha256sum >/dev/null 2>&1; then
    GOT=$(sha256sum "$TMP/encedeus-agent.tgz" | cut -d' ' -f1)
  elif command -v shasum >/dev/null 2>&1; then
    GOT=$(shasum -a 256 "$TMP/encedeus-agent.tgz" | cut -d' ' -f1)
  else
    die "sha256sum (coreutils) or shasum is needed to check the download"
  fi
  [ "$GOT" = "$BUNDLE_SHA256" ] || die "the download does not match the gateway's checksum (got $GOT); run the installer again"
fi
tar -xzf "$TMP/encedeus-agent.tgz" -C "$TMP" || die "the download is not a valid bundle"
[ -f "$TMP/encedeus-agent/bin/encedeus-agent" ] || die "the download is not a valid bundle"

umask 022
mkdir -p "$PREFIX"
rm -rf "$PREFIX/app.new" "$PREFIX/app.old"
mv "$TMP/encedeus-agent" "$PREFIX/app.new"
if [ -d "$PREFIX/app" ]; then mv "$PREFIX/app" "$PREFIX/app.old"; fi
mv "$PREFIX/app.new" "$PREFIX/app"
rm -rf "$PREFIX/app.old"
mkdir -p "$PREFIX/data"
chmod 0711 "$PREFIX/data"
say "installed under $PREFIX/app"

# The token is traded once, now, for the agent's own credentials ($PREFIX/data/identity.json, 0600).
if [ -f "$PREFIX/data/identity.json" ]; then
  say "already enrolled (remove $PREFIX/data/identity.json to enroll again)"
else
  [ -n "$TOKEN" ] || die "--token <enrollment token> is needed (node page of the console)"
  # In the environment, not argv: other users of the machine can read a process's arguments.
  ENCEDEUS_ENROLL_TOKEN=$TOKEN "$NODE" "$PREFIX/app/bin/encedeus-agent" --enroll-only --gateway "$GATEWAY" --data-dir "$PREFIX/data" || die "enrollment failed"
fi

# No secret here: the gateway's address and the data dir.
umask 077
{
  printf 'ENCEDEUS_GATEWAY_URL=%s\\n' "$GATEWAY"
  printf 'AGENT_DATA_DIR=%s\\n' "$PREFIX/data"
} > "$PREFIX/agent.env"
umask 022

FLAGS='${AGENT_NODE_FLAGS.join(' ')}'
RUN="$NODE $FLAGS $PREFIX/app/bin/encedeus-agent --data-dir $PREFIX/data"
if [ "$SYSTEMD" = 1 ]; then
  cat > "$UNIT_DIR/$UNIT.service" <<UNIT
[Unit]
Description=Encedeus node agent (Skyhook)
After=network-online.target docker.service
Wants=network-online.target

[Service]
Type=simple
EnvironmentFile=$PREFIX/agent.env
ExecStart=$NODE $FLAGS $PREFIX/app/bin/encedeus-agent
Restart=always
RestartSec=5
# Process-driver servers outlive an agent restart and are re-attached: stop only the agent.
KillMode=process

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable --now "$UNIT.service"
  say "started: systemctl status $UNIT (logs: journalctl -u $UNIT -f)"
elif [ "$SERVICE" = 1 ]; then
  say "no systemd here; run the agent under your supervisor of choice:"
  say "  $RUN"
else
  say "installed (no service); run it with:"
  say "  $RUN"
fi
`;
}
