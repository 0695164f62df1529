import { z } from 'zod';
import { text } from '../text';
import type { ServerAction } from './access';

/*
 * SFTP on every node (issue 11): each agent serves one SFTP port; a login names a user and one of
 * the node's servers (`<user name>.<first 8 characters of the server id>`) and is checked by the auth
 * service over `cmd.auth.sftp_login`; the session re-checks with `cmd.auth.sftp_access`
 * (docs/server-files.md, "SFTP").
 */

/** The file actions an SFTP session may hold on its server (contracts' canControlServer decides each). */
export const SFTP_ACTIONS = ['files.read', 'files.write', 'files.delete'] as const satisfies readonly ServerAction[];
export type SftpAction = (typeof SFTP_ACTIONS)[number];

/** Default SFTP port of an agent (`AGENT_SFTP_PORT`). */
export const DEFAULT_SFTP_PORT = 2022;

/** Characters of the server id in an SFTP user name. */
export const SFTP_SERVER_ID_CHARS = 8;

/** The SFTP user name of `userName` on a server: `<user name>.<first 8 characters of the server id>`. */
export function sftpUsername(userName: string, serverId: string): string {
  return `${userName}.${serverId.slice(0, SFTP_SERVER_ID_CHARS)}`;
}

/**
 * Splits an SFTP user name at its last dot into the Encedeus user name and the server id's first
 * 8 characters (lower-case hex); null when it has no such shape. User names may hold dots themselves.
 */
export function parseSftpUsername(username: string): { userName: string; serverPrefix: string } | null {
  const dot = username.lastIndexOf('.');
  if (dot <= 0) return null;
  const serverPrefix = username.slice(dot + 1).toLowerCase();
  if (!/^[0-9a-f]{8}$/.test(serverPrefix)) return null;
  return { userName: username.slice(0, dot), serverPrefix };
}

const uuid = z.uuid();

/**
 * `cmd.auth.sftp_login`: an agent asks whether `user_name` may open an SFTP session on `server_id`
 * (a server of `node_id`) with this password, or with this public key (one of the user's registered
 * SSH keys; the agent checked the client's signature). Passwords are rate limited like REST logins;
 * 401 for a wrong password or key, an unknown or disabled user; 403 when the user holds none of the
 * SFTP actions on the server.
 */
export const sftpLoginCommandSchema = z
  .object({
    node_id: uuid,
    server_id: uuid,
    user_name: text().min(1).max(254),
    password: text().min(1).max(1024).optional(),
    /** A public key the client offered (the agent verifies its signature): `algo` and the key blob in base64. */
    public_key: z.object({ algo: text().min(1).max(64), data: z.base64().max(16_384) }).optional(),
    ip: text().max(100).optional(),
  })
  .refine((c) => (c.password === undefined) !== (c.public_key === undefined), { message: 'give password or public_key, not both', path: ['password'] });
export type SftpLoginCommand = z.infer<typeof sftpLoginCommandSchema>;

/** OpenSSH's fingerprint of a public key: `SHA256:` and the SHA-256 of the key blob in unpadded base64 (as the users service stores it). */
const sshKeyFingerprintSchema = text().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'an OpenSSH SHA256 fingerprint');

/**
 * `cmd.auth.sftp_access`: the re-check of an open session (the user may have been disabled or lost a
 * permission). A session that logged in with an SSH key names its fingerprint: the key must still
 * be one of the user's registered keys, else the answer is 401 and the session ends. A session that
 * logged in by password names the `password_changed_at` its login answered: once the user's
 * password has changed since, the answer is 401 and the session ends.
 */
export const sftpAccessCommandSchema = z
  .object({
    node_id: uuid,
    server_id: uuid,
    user_id: uuid,
    key_fingerprint: sshKeyFingerprintSchema.optional(),
    password_changed_at: z.iso.datetime().optional(),
  })
  .refine((c) => c.key_fingerprint === undefined || c.password_changed_at === undefined, { message: 'a session logged in by key or by password, not both', path: ['password_changed_at'] });
export type SftpAccessCommand = z.infer<typeof sftpAccessCommandSchema>;

/**
 * `agent.<nodeId>.cmd.sftp_recheck` (nodes service → one agent; no answer is needed): a committed
 * change may have ended open SFTP sessions. The agent takes its sessions matching every field given
 * (neither id: all of them). With `revoked` it ends them at once, because the change alone says the
 * access is gone. Otherwise it re-checks them at once with `cmd.auth.sftp_access`, as its periodic
 * re-check does.
 */
export const sftpRecheckCommandSchema = z.strictObject({ server_id: uuid.optional(), user_id: uuid.optional(), revoked: z.boolean().optional() });
export type SftpRecheckCommand = z.infer<typeof sftpRecheckCommandSchema>;

/**
 * Which open SFTP sessions an event may end (docs/subusers.md, "When a removal takes effect"), or
 * null when it cannot end any. With a `server_id`, only the agent of that server's node is told.
 * Without one, the change is about a user or a role, and every node may hold such a session.
 * A change that grants access (a sub-user added) ends nothing.
 */
export function sftpRecheckAfter(event: { type: string; subject: string; data: unknown }): SftpRecheckCommand | null {
  const id = event.subject.slice(event.subject.indexOf('/') + 1);
  const data = (event.data ?? {}) as Record<string, unknown>;
  switch (event.type) {
    case 'server.subuser_changed':
    case 'server.subuser_removed':
      return { server_id: id, user_id: String(data.user_id) };
    case 'server.deleted':
      return { server_id: id, revoked: true };
    case 'user.updated':
      if (data.disabled === true) return { user_id: id, revoked: true };
      // Sessions that logged in by password end at their re-check (auth refuses a password changed since); key sessions stay.
      return data.passwordChanged === true ? { user_id: id } : null;
    case 'user.deleted':
      return { user_id: id, revoked: true };
    case 'user.role_assigned':
      return { user_id: id };
    case 'user.ssh_key_removed':
      // Sessions that logged in with that key end at their re-check (the key is no longer registered); the user's others stay.
      return { user_id: id };
    case 'role.updated':
      // A rename changes no access; new permissions may take the file permissions from the role's users.
      return data.permissions !== undefined ? {} : null;
    case 'role.deleted':
      return {};
    default:
      return null;
  }
}

/** What a session may do: the user, and the SFTP actions contracts' canControlServer allows on the server. */
export interface SftpAccessReply {
  user_id: string;
  user_name: string;
  server_id: string;
  allowed: SftpAction[];
  /**
   * Of a password login only: when the user's password was last set (auth's clock, ISO 8601 with
   * microseconds). The session names it in each `cmd.auth.sftp_access`, which refuses it once the
   * password has changed.
   */
  password_changed_at?: string;
}

/** `sftp` of a server's details: where and as whom the caller logs in. */
export interface ServerSftpView {
  host: string;
  port: number;
  username: string;
}
