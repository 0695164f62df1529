import { z } from 'zod';
import { text } from '../text';
import { defineEvent } from './registry';

/**
 * Events of the identity aggregates: `user` and `role` (users service), `apikey` and `session` (auth
 * service). `user.logged_in`, `user.logged_out` and `user.login_failed` are facts of the `session`
 * aggregate (`evt.session.<userId>`); they keep their `user.` type names for the consumers that match
 * on them (events recorded before 2026-12 are on `evt.user.<id>`).
 * No event ever carries a secret: passwords, hashes, OTP codes, tokens and API keys live only in
 * the auth service's own state tables (docs/identity.md).
 */

const uuid = text().uuid();
const ip = text().max(100).optional();

/** Metadata of a stored profile picture; the bytes live in the users service's own table. */
export const pictureMetaSchema = z.object({
  contentType: z.enum(['image/png', 'image/jpeg', 'image/webp']),
  size: z.number().int().nonnegative(),
  sha256: text().regex(/^[a-f0-9]{64}$/),
});

export const UserCreated = defineEvent(
  'user.created',
  z.object({
    userId: uuid,
    name: text(),
    email: text().nullable(),
    roleIds: z.array(uuid),
    serviceAccount: z.boolean(),
    otpEnabled: z.boolean(),
    disabled: z.boolean(),
  }),
  'A user or service account was created with its roles.',
);

export const UserUpdated = defineEvent(
  'user.updated',
  z.object({
    userId: uuid,
    name: text().optional(),
    email: text().nullable().optional(),
    disabled: z.boolean().optional(),
    otpEnabled: z.boolean().optional(),
    /** True when the password was changed (never the password itself). */
    passwordChanged: z.boolean().optional(),
    /**
     * With passwordChanged: the one session (refresh-token family) that stays valid, the changer's
     * own; every other session of the user, and every access token issued before, ended.
     */
    keptSessionId: uuid.optional(),
    /** New profile picture metadata, or null when it was removed. */
    picture: pictureMetaSchema.nullable().optional(),
  }),
  'Fields of a user changed; only the changed fields are present.',
);

export const UserDeleted = defineEvent('user.deleted', z.object({ userId: uuid }), 'A user was deleted.');

export const UserRoleAssigned = defineEvent(
  'user.role_assigned',
  z.object({ userId: uuid, roleIds: z.array(uuid) }),
  'The full set of roles of a user was replaced by roleIds.',
);

export const UserSshKeyAdded = defineEvent(
  'user.ssh_key_added',
  z.object({
    userId: uuid,
    keyId: uuid,
    name: text(),
    /** The key's type, e.g. `ssh-ed25519`. */
    algorithm: text(),
    /** OpenSSH's `SHA256:<base64>` of the public key blob. */
    fingerprint: text(),
    /** The public key in OpenSSH's one-line form (`<type> <base64>`, no comment): public, not a secret. */
    publicKey: text(),
  }),
  'An SSH public key was registered on a user; SFTP logins may use it.',
);

export const UserSshKeyRemoved = defineEvent('user.ssh_key_removed', z.object({ userId: uuid, keyId: uuid }), 'An SSH public key of a user was removed.');

/** Event types recorded on the `session` aggregate (`evt.session.<userId>`) although named `user.…`. */
export const SESSION_EVENT_TYPES: readonly string[] = ['user.logged_in', 'user.logged_out', 'user.login_failed'];

/** The aggregate an event type is recorded on: its prefix, except the session facts above. */
// External agents' events keep the issue's names (`agent.*`) on aggregate `external_agent` (docs/metrics.md).
export const aggregateOfEventType = (type: string): string => (SESSION_EVENT_TYPES.includes(type) ? 'session' : type.startsWith('agent.') ? 'external_agent' : type.split('.')[0]);

export const UserLoggedIn = defineEvent(
  'user.logged_in',
  z.object({
    userId: uuid,
    method: z.enum(['password', 'otp', 'registration']),
    /** Refresh-token family started by this login. */
    familyId: uuid,
    ip,
  }),
  'A user logged in and a refresh-token family was started.',
);

export const UserLoggedOut = defineEvent(
  'user.logged_out',
  z.object({
    userId: uuid,
    familyId: uuid,
    /** `logout`, or `refresh_token_reuse` when a rotated refresh token was presented again. */
    reason: z.enum(['logout', 'refresh_token_reuse', 'user_disabled']),
  }),
  'A refresh-token family was revoked; access tokens of that family stop working.',
);

export const UserLoginFailed = defineEvent(
  'user.login_failed',
  z.object({ userId: uuid, reason: z.enum(['bad_password', 'disabled', 'bad_code', 'rate_limited']), ip }),
  'A login attempt for an existing account failed.',
);

export const RoleCreated = defineEvent(
  'role.created',
  z.object({ roleId: uuid, name: text(), permissions: z.array(text()), builtIn: z.boolean() }),
  'A role was created.',
);

export const RoleUpdated = defineEvent(
  'role.updated',
  z.object({ roleId: uuid, name: text().optional(), permissions: z.array(text()).optional() }),
  'A role was renamed or its permissions replaced.',
);

export const RoleDeleted = defineEvent('role.deleted', z.object({ roleId: uuid }), 'A role was deleted.');

export const ApiKeyCreated = defineEvent(
  'apikey.created',
  z.object({
    keyId: uuid,
    name: text(),
    /** The first characters of the key, shown in lists (not enough to use it). */
    prefix: text(),
    ownerId: uuid,
    serviceAccountId: uuid.nullable(),
    permissions: z.array(text()),
    expiresAt: text().nullable(),
  }),
  'An API key was issued (the key itself is shown once and stored hashed by auth).',
);

export const ApiKeyRevoked = defineEvent(
  'apikey.revoked',
  z.object({ keyId: uuid, reason: z.enum(['revoked', 'owner_deleted']).optional() }),
  'An API key was revoked.',
);

export type IdentityEventType =
  | typeof UserCreated.type
  | typeof UserUpdated.type
  | typeof UserDeleted.type
  | typeof UserRoleAssigned.type
  | typeof UserSshKeyAdded.type
  | typeof UserSshKeyRemoved.type
  | typeof UserLoggedIn.type
  | typeof UserLoggedOut.type
  | typeof UserLoginFailed.type
  | typeof RoleCreated.type
  | typeof RoleUpdated.type
  | typeof RoleDeleted.type
  | typeof ApiKeyCreated.type
  | typeof ApiKeyRevoked.type;
