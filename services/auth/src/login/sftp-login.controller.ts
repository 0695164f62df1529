import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, type NatsContext } from '@nestjs/microservices';
import {
  AuthVerbs,
  canControlServer,
  canSeeServer,
  event,
  ForbiddenError,
  isPermission,
  NotFoundError,
  SFTP_ACTIONS,
  sftpAccessCommandSchema,
  sftpLoginCommandSchema,
  Subjects,
  UnauthenticatedError,
  UserLoginFailed,
  UsersVerbs,
  type DomainError,
  type RoleView,
  type ServerView,
  type SftpAccessReply,
  type SshKeyView,
  type UserView,
} from '@encedeus/contracts';
import { AGENT_NODE_HEADER, CommandClient } from '@encedeus/messaging';
import { sshKeyFingerprint } from '@encedeus/security';
import { AuthState } from '../state/auth-state';
import { SessionLog } from '../sessions/session-log';
import { PasswordChecks } from './password-checks';

const BAD_CREDENTIALS = 'Invalid user name or password';

/**
 * The node a request names must be the node that asked: the command server sets AGENT_NODE_HEADER
 * from the reply subject, which only that agent can receive on. A request from a service user (no
 * header) may name any node (tests, tooling with service credentials).
 */
function assertAskingNode(ctx: NatsContext, nodeId: string): void {
  const asking = ctx.getHeaders()?.get(AGENT_NODE_HEADER);
  if (asking && asking !== nodeId) throw new ForbiddenError(`An agent may ask only about its own node (${asking}), not ${nodeId}`);
}
const AUTH_ACTOR = { actor: 'service:auth' };
/** `password_changed_at` in UTC with Postgres's microseconds (a JS Date keeps only milliseconds, and the re-check compares for equality). */
const PASSWORD_CHANGED_AT = `to_char(password_changed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * SFTP logins of the node agents (issue 11). An agent cannot read users or servers; it asks here:
 * `cmd.auth.sftp_login` checks the password under the REST login limiter, or that an offered public
 * key is one of the user's SSH keys (cmd.users.ssh_key_list); `cmd.auth.sftp_access`
 * re-checks an open session, that the key it logged in with is still registered, or that the
 * password it logged in with has not been changed since. Both answer
 * the SFTP actions contracts' canControlServer allows the user on that server (the one rule REST
 * uses); the server must be on the asking agent's node.
 */
@Controller()
export class SftpLoginController {
  constructor(
    private readonly state: AuthState,
    private readonly passwords: PasswordChecks,
    private readonly sessions: SessionLog,
    private readonly commands: CommandClient,
  ) {}

  @MessagePattern(Subjects.command('auth', AuthVerbs.sftpLogin))
  async login(@Payload() payload: unknown, @Ctx() ctx: NatsContext): Promise<SftpAccessReply> {
    const { node_id, server_id, user_name, password, public_key, ip } = sftpLoginCommandSchema.parse(payload);
    assertAskingNode(ctx, node_id);
    // Names only (an email holds no dot-free shape we could split from the server part reliably).
    // The password's time is read with its hash, so a change committed after this read is one the session did not log in under.
    const [cred] = await this.state.query<{ user_id: string; password_hash: string | null; password_changed_at: string }>(
      `select user_id, password_hash, ${PASSWORD_CHANGED_AT} as password_changed_at from auth.credentials where lower(name) = lower($1) limit 1`,
      [user_name],
    );
    if (public_key) {
      // Not counted by the limiter: a key cannot be guessed, and OpenSSH offers every key it has in turn.
      if (!cred || !(await this.hasKey(cred.user_id, public_key.data))) throw new UnauthenticatedError('Unknown key for this user');
      return this.access(node_id, server_id, cred.user_id);
    }
    const ok = await this.passwords.check(cred?.user_id ?? `login:${user_name}`, ip, cred?.password_hash ?? null, password!);
    if (!cred || !ok) {
      if (cred) await this.sessions.record(cred.user_id, event(UserLoginFailed, { userId: cred.user_id, reason: 'bad_password', ip }), 'user:' + cred.user_id);
      throw new UnauthenticatedError(BAD_CREDENTIALS);
    }
    return { ...(await this.access(node_id, server_id, cred.user_id)), password_changed_at: cred.password_changed_at };
  }

  @MessagePattern(Subjects.command('auth', AuthVerbs.sftpAccess))
  async recheck(@Payload() payload: unknown, @Ctx() ctx: NatsContext): Promise<SftpAccessReply> {
    const { node_id, server_id, user_id, key_fingerprint, password_changed_at } = sftpAccessCommandSchema.parse(payload);
    assertAskingNode(ctx, node_id);
    // A session logged in with a key lasts only as long as the key is registered.
    if (key_fingerprint && !(await this.hasFingerprint(user_id, key_fingerprint))) throw new UnauthenticatedError('The SSH key of this session was removed');
    // A session logged in by password lasts only as long as that password (a stolen one must not outlive its change).
    if (password_changed_at && !(await this.passwordUnchanged(user_id, password_changed_at))) throw new UnauthenticatedError('The password of this session was changed');
    return this.access(node_id, server_id, user_id);
  }

  /** Whether the user's password is still the one set at `changedAt` (the time a password login answered). */
  private async passwordUnchanged(userId: string, changedAt: string): Promise<boolean> {
    const rows = await this.state.query(`select 1 from auth.credentials where user_id = $1 and password_changed_at = $2::timestamptz`, [userId, changedAt]);
    return rows.length > 0;
  }

  /** Whether the key (its blob, base64) is one of the user's registered SSH keys (users service, by fingerprint). */
  private hasKey(userId: string, blob: string): Promise<boolean> {
    return this.hasFingerprint(userId, sshKeyFingerprint(Buffer.from(blob, 'base64')));
  }

  private async hasFingerprint(userId: string, fingerprint: string): Promise<boolean> {
    const keys = await this.commands.send<SshKeyView[]>('users', UsersVerbs.sshKeyList, { id: userId }, AUTH_ACTOR);
    return keys.some((k) => k.fingerprint === fingerprint);
  }

  /** 401 for an unknown or disabled user (and service accounts), 404 for a server not on that node or hidden, 403 with no SFTP action. */
  private async access(nodeId: string, serverId: string, userId: string): Promise<SftpAccessReply> {
    const user = await this.commands.send<UserView>('users', UsersVerbs.get, { id: userId }, AUTH_ACTOR).catch((error: DomainError) => {
      if (error.code === 'NOT_FOUND') throw new UnauthenticatedError(BAD_CREDENTIALS);
      throw error;
    });
    if (user.disabled || user.serviceAccount) throw new UnauthenticatedError('The account is disabled');
    const roles = await Promise.all(user.roles.map((r) => this.commands.send<RoleView>('users', UsersVerbs.roleGet, { id: r.id }, AUTH_ACTOR).catch(() => undefined)));
    const permissions = new Set(roles.flatMap((r) => r?.permissions ?? []).filter(isPermission));
    const principal = { userId, permissions };
    const server = await this.commands.send<ServerView>('nodes', 'get_server', { id: serverId }, AUTH_ACTOR);
    if (server.node_id !== nodeId || !canSeeServer(principal, server)) throw new NotFoundError('Server', serverId);
    const allowed = SFTP_ACTIONS.filter((a) => canControlServer(principal, server, a));
    if (allowed.length === 0) throw new ForbiddenError('You may not use the files of this server', { missing: ['files.read'] });
    return { user_id: userId, user_name: user.name, server_id: serverId, allowed };
  }
}
