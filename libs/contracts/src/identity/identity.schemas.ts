import { z } from 'zod';
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

export const passwordSchema = z.string().min(PASSWORD_MIN_LENGTH, `at least ${PASSWORD_MIN_LENGTH} characters`).max(1024);
/** A user name: no `@`, so a login string is either an email or a name. */
export const userNameSchema = z.string().trim().min(1).max(64).regex(/^[^@\s]+( [^@\s]+)*$/, 'no @ and no leading, trailing or double spaces');
export const emailSchema = z.email().max(254).transform((e) => e.toLowerCase());
export const permissionSchema = z.string().refine(isPermission, { message: 'unknown permission' });
export const permissionsSchema = z.array(permissionSchema).max(200).transform((p) => [...new Set(p)].sort());
const uuid = z.uuid();
const ipSchema = z.string().max(100).optional();

// ---------------------------------------------------------------- REST bodies (gateway DTOs)

export const loginBodySchema = z
  .object({ email: z.string().max(254).optional(), username: z.string().max(254).optional(), password: z.string().min(1).max(1024) })
  .refine((b) => !!(b.email || b.username), { message: 'email or username is required', path: ['email'] });
export const otpVerifyBodySchema = z.object({ email: emailSchema, code: z.string().regex(/^\d{6}$/, '6 digits') });
export const registerInitBodySchema = z.object({ username: userNameSchema, password: passwordSchema, email: emailSchema });

export const createUserBodySchema = z.object({
  name: userNameSchema,
  password: passwordSchema,
  email: emailSchema,
  role_id: uuid.optional(),
  role_name: z.string().min(1).max(64).optional(),
  otpEnabled: z.boolean().optional(),
});
export const updateUserBodySchema = z
  .object({
    name: userNameSchema.optional(),
    password: passwordSchema.optional(),
    email: emailSchema.optional(),
    role_id: uuid.optional(),
    role_name: z.string().min(1).max(64).optional(),
    disabled: z.boolean().optional(),
    otpEnabled: z.boolean().optional(),
  })
  .strict();
/** What a user may change about themselves (`PATCH /users/me`). */
export const updateSelfBodySchema = z
  .object({ name: userNameSchema.optional(), password: passwordSchema.optional(), email: emailSchema.optional(), otpEnabled: z.boolean().optional() })
  .strict();
export const listUsersQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(500).optional(),
  name: z.string().max(64).optional(),
  email: z.string().max(254).optional(),
  role: z.string().max(64).optional(),
  /** Free text: matches the name or the email. */
  q: z.string().max(254).optional(),
  disabled: z.enum(['true', 'false']).optional(),
  /** `true`: only service accounts; `false`: only people. */
  service_account: z.enum(['true', 'false']).optional(),
});

export const createRoleBodySchema = z.object({ name: z.string().trim().min(1).max(64), permissions: permissionsSchema });
export const updateRoleBodySchema = z
  .object({ name: z.string().trim().min(1).max(64).optional(), permissions: permissionsSchema.optional() })
  .strict();

export const createServiceAccountBodySchema = z.object({ name: userNameSchema, role_id: uuid.optional(), role_name: z.string().max(64).optional() });
export const createApiKeyBodySchema = z.object({
  name: z.string().trim().min(1).max(100),
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
  passwordHash: z.string().startsWith('$argon2id$').optional(),
  roleIds: z.array(uuid).optional(),
  role_id: uuid.optional(),
  role_name: z.string().max(64).optional(),
  serviceAccount: z.boolean().default(false),
  otpEnabled: z.boolean().default(false),
});
export const updateUserCommandSchema = updateUserBodySchema.safeExtend({ id: uuid });
export const userIdCommandSchema = z.object({ id: uuid });
export const setPictureCommandSchema = z.object({ id: uuid, contentType: z.enum(['image/png', 'image/jpeg', 'image/webp']), base64: z.string() });
export const roleIdCommandSchema = z.object({ id: uuid, force: z.boolean().optional() });
export const updateRoleCommandSchema = updateRoleBodySchema.safeExtend({ id: uuid });

export const loginCommandSchema = z.object({ login: z.string().min(1).max(254), password: z.string().min(1).max(1024), ip: ipSchema });
export const otpVerifyCommandSchema = otpVerifyBodySchema.safeExtend({ ip: ipSchema });
export const registerInitCommandSchema = registerInitBodySchema.safeExtend({ ip: ipSchema });
export const refreshCommandSchema = z.object({ refreshToken: z.string().min(1).max(500), ip: ipSchema });
export const logoutCommandSchema = z.object({ refreshToken: z.string().max(500).optional(), familyId: uuid.optional(), userId: uuid.optional() });
/** `cmd.auth.set_credentials`: sent by users before it appends a change of name, email or password. */
export const setCredentialsCommandSchema = z.object({
  userId: uuid,
  name: z.string(),
  email: z.string().nullable(),
  password: passwordSchema.optional(),
  passwordHash: z.string().startsWith('$argon2id$').optional(),
});
export const deleteCredentialsCommandSchema = z.object({ userId: uuid });
export const createApiKeyCommandSchema = z.object({
  name: z.string().trim().min(1).max(100),
  permissions: permissionsSchema,
  expiresAt: z.string().nullable().optional(),
  ownerId: uuid,
  serviceAccountId: uuid.nullable().optional(),
});
export const listApiKeysCommandSchema = z.object({ ownerId: uuid.optional(), limit: z.number().int().min(1).max(500).default(50), cursor: z.string().optional() });
export const revokeApiKeyCommandSchema = z.object({ id: uuid, ownerId: uuid.optional() });
/** `cmd.auth.apikey_resolve`: SHA-256 (hex) of a presented key → its id. */
export const resolveApiKeyCommandSchema = z.object({ keyHash: z.string().regex(/^[a-f0-9]{64}$/) });

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
