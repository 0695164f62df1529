import { sftpAccessCommandSchema, sftpRecheckAfter, sftpRecheckCommandSchema } from './sftp';

const server = '11111111-1111-4111-8111-111111111111';
const user = '22222222-2222-4222-8222-222222222222';
const role = '33333333-3333-4333-8333-333333333333';

describe('sftpRecheckAfter', () => {
  it('re-checks one user on one server when its grant changes or goes', () => {
    const changed = sftpRecheckAfter({ type: 'server.subuser_changed', subject: `server/${server}`, data: { user_id: user, permissions: ['power'] } });
    const removed = sftpRecheckAfter({ type: 'server.subuser_removed', subject: `server/${server}`, data: { user_id: user } });

    expect(changed).toEqual({ server_id: server, user_id: user });
    expect(removed).toEqual({ server_id: server, user_id: user });
  });

  it('ends every session of a deleted server, and of a disabled or deleted user, without asking', () => {
    const deleted = sftpRecheckAfter({ type: 'server.deleted', subject: `server/${server}`, data: {} });
    const disabled = sftpRecheckAfter({ type: 'user.updated', subject: `user/${user}`, data: { userId: user, disabled: true } });
    const gone = sftpRecheckAfter({ type: 'user.deleted', subject: `user/${user}`, data: { userId: user } });

    expect(deleted).toEqual({ server_id: server, revoked: true });
    expect(disabled).toEqual({ user_id: user, revoked: true });
    expect(gone).toEqual({ user_id: user, revoked: true });
  });

  it('re-checks on every node after a change of roles or of a role\'s permissions', () => {
    const assigned = sftpRecheckAfter({ type: 'user.role_assigned', subject: `user/${user}`, data: { userId: user, roleIds: [] } });
    const narrowed = sftpRecheckAfter({ type: 'role.updated', subject: `role/${role}`, data: { roleId: role, permissions: [] } });
    const roleGone = sftpRecheckAfter({ type: 'role.deleted', subject: `role/${role}`, data: { roleId: role } });

    expect(assigned).toEqual({ user_id: user });
    expect(narrowed).toEqual({});
    expect(roleGone).toEqual({});
  });

  it("re-checks every session of a user on every node after one of their SSH keys is removed", () => {
    const removed = sftpRecheckAfter({ type: 'user.ssh_key_removed', subject: `user/${user}`, data: { userId: user, keyId: role } });

    expect(removed).toEqual({ user_id: user });
  });

  it("re-checks every session of a user on every node after their password changed, so those that logged in by password end", () => {
    const changed = sftpRecheckAfter({ type: 'user.updated', subject: `user/${user}`, data: { userId: user, passwordChanged: true, keptSessionId: role } });
    const changedAndDisabled = sftpRecheckAfter({ type: 'user.updated', subject: `user/${user}`, data: { userId: user, passwordChanged: true, disabled: true } });

    expect(changed).toEqual({ user_id: user });
    expect(changedAndDisabled).toEqual({ user_id: user, revoked: true });
  });

  it('ignores what cannot take access away', () => {
    const ignored = [
      { type: 'server.subuser_added', subject: `server/${server}`, data: { user_id: user, permissions: ['files.read'] } },
      { type: 'server.running', subject: `server/${server}`, data: { run_id: 'r1' } },
      { type: 'user.updated', subject: `user/${user}`, data: { userId: user, disabled: false } },
      { type: 'user.updated', subject: `user/${user}`, data: { userId: user, name: 'renamed' } },
      { type: 'role.updated', subject: `role/${role}`, data: { roleId: role, name: 'renamed' } },
      { type: 'user.ssh_key_added', subject: `user/${user}`, data: { userId: user, keyId: role } },
    ];

    const rechecks = ignored.map(sftpRecheckAfter);

    expect(rechecks).toEqual(ignored.map(() => null));
  });
});

describe('sftpRecheckCommandSchema', () => {
  it('refuses unknown fields and ids that are not UUIDs', () => {
    expect(sftpRecheckCommandSchema.safeParse({ server_id: server, user_id: user, revoked: true }).success).toBe(true);
    expect(sftpRecheckCommandSchema.safeParse({}).success).toBe(true);
    expect(sftpRecheckCommandSchema.safeParse({ server_id: 'not-a-uuid' }).success).toBe(false);
    expect(sftpRecheckCommandSchema.safeParse({ server_id: server, shell: 'rm -rf /' }).success).toBe(false);
  });
});

describe('sftpAccessCommandSchema', () => {
  const ids = { node_id: role, server_id: server, user_id: user };

  it('takes the fingerprint of the key a session logged in with, in OpenSSH\'s SHA256 form only', () => {
    const fingerprint = `SHA256:${'A'.repeat(42)}8`;

    expect(sftpAccessCommandSchema.safeParse(ids).success).toBe(true);
    expect(sftpAccessCommandSchema.safeParse({ ...ids, key_fingerprint: fingerprint }).success).toBe(true);
    expect(sftpAccessCommandSchema.safeParse({ ...ids, key_fingerprint: `MD5:${'a'.repeat(32)}` }).success).toBe(false);
    expect(sftpAccessCommandSchema.safeParse({ ...ids, key_fingerprint: `${fingerprint}=` }).success).toBe(false);
  });

  it('takes the password time a password session logged in under, as an ISO 8601 instant, and never beside a key', () => {
    const at = '2026-12-01T10:00:00.123456Z';

    expect(sftpAccessCommandSchema.safeParse({ ...ids, password_changed_at: at }).success).toBe(true);
    expect(sftpAccessCommandSchema.safeParse({ ...ids, password_changed_at: 'yesterday' }).success).toBe(false);
    expect(sftpAccessCommandSchema.safeParse({ ...ids, password_changed_at: at, key_fingerprint: `SHA256:${'A'.repeat(42)}8` }).success).toBe(false);
  });
});
