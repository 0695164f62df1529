import { z } from 'zod';
import { text } from '../text';
import { isPermission } from '../permissions';

/**
 * Commands and REST bodies of the identity services (issue #3). One zod source: the gateway's DTOs
 * (nestjs-zod) and the services' NATS handlers parse with these same schemas.
 */

/** Fixed ids of the built-in roles, so every service and every rebuild agrees on them. */
export const BUILT_IN_ROLE_IDS = {
  admin: '00000000-0000-4000-8000-000000000001',
  user: '00000000-0000-4000-8000-000000000002',
} as const;

/** Id of the first admin created on first start (ENCEDEUS_ADMIN_EMAIL). */
export const FIRST_ADMIN_ID = '00000000-0000-4000-8000-0000000000a1';

/** Minimum password length (issue #3). */
export const PASSWORD_MIN_LENGTH = 8;

/** Prefix of every API key, so a leaked key is easy to grep for (`enck_…`). */
export const API_KEY_PREFIX = 'enck_';

/** Characters of an API key shown in lists (`prefix`). */
export const API_KEY_SHOWN_CHARS = 12;

export const passwordSchema = text().min(PASSWORD_MIN_LENGTH, `at least ${PASSWORD_MIN_LENGTH} characters`).max(1024);
/** A user name: no `@`, so a login string is either an email or a name. */
export const userNameSchema = text().trim().min(1).max(64).regex(/^[^@\s]+( [^@\s]+)*$/, 'no @ and no leading, trailing or double spaces');
export const emailSchema = z.email().max(254).transform((e) => e.toLowerCase());
export const permissionSchema = text().refine(isPermission, { message: 'unknown permission' });
export const permissionsSchema = z.array(permissionSchema).max(200).transform((p) => [...new Set(p)].sort());
const uuid = z.uuid();
const ipSchema = text().max(100).optional();

/** A role is named by `role_id` or by `role_name`, never both (issue #8: the check saw one, the service assigned both). */
const oneRoleRef = { message: 'give role_id or role_name, not both', path: ['role_name'] };
const atMostOneRoleRef = (b: { role_id?: string; role_name?: string }) => !(b.role_id !== undefined && b.role_name !== undefined);

// ---------------------------------------------------------------- REST bodies (gateway DTOs)

export const loginBodySchema = z
  .object({ email: text().max(254).optional(), username: text().max(254).optional(), password: text().min(1).max(1024) })
  .refine((b) => !!(b.email || b.username), { message: 'email or username is required', path: ['email'] });
export const otpVerifyBodySchema = z.object({ email: emailSchema, code: text().regex(/^\d{6}$/, '6 digits') });
export const registerInitBodySchema = z.object({ username: userNameSchema, password: passwordSchema, email: emailSchema });

export const createUserBodySchema = z.object({
  name: userNameSchema,
  password: passwordSchema,
  email: emailSchema,
  role_id: uuid.optional(),
  role_name: text().min(1).max(64).optional(),
  otpEnabled: z.boolean().optional(),
}).refine(atMostOneRoleRef, oneRoleRef);
const updateUserFields = {
  name: userNameSchema.optional(),
  password: passwordSchema.optional(),
  email: emailSchema.optional(),
  role_id: uuid.optional(),
  role_name: text().min(1).max(64).optional(),
  disabled: z.boolean().optional(),
  otpEnabled: z.boolean().optional(),
};
/**
 * `PATCH /users/:id`. On your own id the rules of `/users/me` apply (issue #8 follow-up):
 * `current_password` for a new password, email or two-step setting; the gateway checks it.
 */
export const updateUserBodySchema = z
  .object({ ...updateUserFields, current_password: text().min(1).max(1024).optional() })
  .strict()
  .refine(atMostOneRoleRef, oneRoleRef);
/**
 * What a user may change about themselves (`PATCH /users/me`). A new password, email or two-step
 * setting needs the current password (issue #8: a stolen access token must not be enough to take the account over).
 */
export const updateSelfBodySchema = z
  .object({
    name: userNameSchema.optional(),
    password: passwordSchema.optional(),
    email: emailSchema.optional(),
    otpEnabled: z.boolean().optional(),
    current_password: text().min(1).max(1024).optional(),
  })
  .strict()
  .refine((b) => (b.password === undefined && b.email === undefined && b.otpEnabled === undefined) || b.current_password !== undefined, {
    message: 'required to change the password, the email or two-step login',
    path: ['current_password'],
  });
export const listUsersQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: text().max(500).optional(),
  name: text().max(64).optional(),
  email: text().max(254).optional(),
  role: text().max(64).optional(),
  /** Free text: matches the name or the email. */
  q: text().max(254).optional(),
  disabled: z.enum(['true', 'false']).optional(),
  /** `true`: only service accounts; `false`: only people. */
  service_account: z.enum(['true', 'false']).optional(),
});

export const createRoleBodySchema = z.object({ name: text().trim().min(1).max(64), permissions: permissionsSchema });
export const updateRoleBodySchema = z
  .object({ name: text().trim().min(1).max(64).optional(), permissions: permissionsSchema.optional() })
  .strict();

export const createServiceAccountBodySchema = z
  .object({ name: userNameSchema, role_id: uuid.optional(), role_name: text().max(64).optional() })
  .refine(atMostOneRoleRef, oneRoleRef);
export const createApiKeyBodySchema = z.object({
  name: text().trim().min(1).max(100),
  permissions: permissionsSchema,
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  serviceAccountId: uuid.optional(),
});

// ---------------------------------------------------------------- NATS commands

/** `cmd.users.create`. `passwordHash` is only sent by auth (self-registration, already hashed). */
export const createUserCommandSchema = z.object({
  id: uuid.optional(),
  name: userNameSchema,
  email: emailSchema.nullable().optional(),
  password: passwordSchema.optional(),
  passwordHash: text().startsWith('$argon2id$').optional(),
  roleIds: z.array(uuid).optional(),
  role_id: uuid.optional(),
  role_name: text().max(64).optional(),
  serviceAccount: z.boolean().default(false),
  otpEnabled: z.boolean().default(false),
}).refine(atMostOneRoleRef, oneRoleRef);
export const updateUserCommandSchema = z
  .object({
    ...updateUserFields,
    id: uuid,
    /** With a new password: the session (refresh-token family) of the caller, which stays valid; every other one ends. */
    keepSessionId: uuid.optional(),
  })
  .strict()
  .refine(atMostOneRoleRef, oneRoleRef);
export const userIdCommandSchema = z.object({ id: uuid });
export const setPictureCommandSchema = z.object({ id: uuid, contentType: z.enum(['image/png', 'image/jpeg', 'image/webp']), base64: text() });
/** `POST /users/me/ssh-keys`: a name and an OpenSSH public key line (`ssh-ed25519 AAAA… comment`). */
export const addSshKeyBodySchema = z.object({ name: text().trim().min(1).max(100), public_key: text().trim().min(1).max(16_384) });
/** `cmd.users.ssh_key_add`: the users service parses the key (private keys and garbage are 422, a key the user has is 409). */
export const addSshKeyCommandSchema = addSshKeyBodySchema.safeExtend({ id: uuid });
export const sshKeyCommandSchema = z.object({ id: uuid, keyId: uuid });
/** Most SSH keys one user may register. */
export const MAX_SSH_KEYS_PER_USER = 50;
export const roleIdCommandSchema = z.object({ id: uuid, force: z.boolean().optional() });
export const updateRoleCommandSchema = updateRoleBodySchema.safeExtend({ id: uuid });

export const loginCommandSchema = z.object({ login: text().min(1).max(254), password: text().min(1).max(1024), ip: ipSchema });
export const otpVerifyCommandSchema = otpVerifyBodySchema.safeExtend({ ip: ipSchema });
export const registerInitCommandSchema = registerInitBodySchema.safeExtend({ ip: ipSchema });
export const refreshCommandSchema = z.object({ refreshToken: text().min(1).max(500), ip: ipSchema });
export const logoutCommandSchema = z.object({ refreshToken: text().max(500).optional(), familyId: uuid.optional(), userId: uuid.optional() });
/** `cmd.auth.set_credentials`: sent by users before it appends a change of name, email or password. */
export const setCredentialsCommandSchema = z.object({
  userId: uuid,
  name: text(),
  email: text().nullable(),
  password: passwordSchema.optional(),
  passwordHash: text().startsWith('$argon2id$').optional(),
  /** With a new password: the refresh-token family that stays valid (the caller's own session). */
  keepFamilyId: uuid.optional(),
  /**
   * Stages the credentials of a user being created: never overwrites confirmed credentials of this
   * id (409), only a staging of the same name and email (a retry of the same create). Confirmed by
   * auth when `user.created` arrives (docs/identity.md).
   */
  create: z.boolean().optional(),
});
/** `cmd.auth.check_password`: is this the user's current password? (401 when not; rate limited like a login.) */
export const checkPasswordCommandSchema = z.object({ userId: uuid, password: text().min(1).max(1024), ip: ipSchema });
export const deleteCredentialsCommandSchema = z.object({ userId: uuid });
export const createApiKeyCommandSchema = z.object({
  name: text().trim().min(1).max(100),
  permissions: permissionsSchema,
  expiresAt: text().nullable().optional(),
  ownerId: uuid,
  serviceAccountId: uuid.nullable().optional(),
});
export const listApiKeysCommandSchema = z.object({ ownerId: uuid.optional(), limit: z.number().int().min(1).max(500).default(50), cursor: uuid.optional() });
export const revokeApiKeyCommandSchema = z.object({ id: uuid, ownerId: uuid.optional() });
/** `cmd.auth.apikey_resolve`: SHA-256 (hex) of a presented key → its id. */
export const resolveApiKeyCommandSchema = z.object({ keyHash: text().regex(/^[a-f0-9]{64}$/) });

// ---------------------------------------------------------------- views (REST and NATS replies)

export interface RoleRef {
  id: string;
  name: string;
}

export interface UserView {
  id: string;
  name: string;
  email: string | null;
  roles: RoleRef[];
  disabled: boolean;
  serviceAccount: boolean;
  otpEnabled: boolean;
  hasPicture: boolean;
  createdAt: string;
  updatedAt: string;
  version: number;
}

/** An SSH public key of a user (`GET /users/me/ssh-keys`). */
export interface SshKeyView {
  id: string;
  name: string;
  algorithm: string;
  fingerprint: string;
  public_key: string;
  created_at: string;
}

export interface RoleView {
  id: string;
  name: string;
  permissions: string[];
  builtIn: boolean;
  version: number;
}

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  permissions: string[];
  expiresAt: string | null;
  serviceAccountId: string | null;
  ownerId: string;
  createdAt: string;
  revokedAt: string | null;
}

/** Reply of a command that wrote: the resource, its version, and the stream sequence of the write. */
export type WriteReply<T> = T & { version: number; sequence: number };

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
}

/** Reply of login steps: tokens, or the notice that a code was mailed. */
export type LoginReply = (TokenPair & { userId: string; sequence?: number }) | { otpRequired: true; message: string };

export interface PictureReply {
  contentType: string;
  base64: string;
}

export type LoginBody = z.infer<typeof loginBodySchema>;
export type CreateUserCommand = z.infer<typeof createUserCommandSchema>;
export type UpdateUserCommand = z.infer<typeof updateUserCommandSchema>;
