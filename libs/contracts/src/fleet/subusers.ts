import { z } from 'zod';
import { emailSchema } from '../identity/identity.schemas';
import { pageQuerySchema } from '../pagination';
import { SUBUSER_PERMISSIONS, type SubuserPermission } from './access';

/*
 * Per-server sub-users (issue 14, Pterodactyl's subusers): an owner grants another user a subset of
 * the server's actions (contracts' SUBUSER_PERMISSIONS). Who may see and do what is the one rule in
 * ./access.ts; docs/subusers.md has the whole story.
 */

/** The most sub-users one server may have. */
export const MAX_SUBUSERS_PER_SERVER = 100;

/** A list of SubuserPermission names: each at most once (duplicates are dropped), sorted as SUBUSER_PERMISSIONS; an unknown name is 422. */
export const subuserPermissionsSchema = z
  .array(z.enum(SUBUSER_PERMISSIONS as [SubuserPermission, ...SubuserPermission[]]))
  .max(SUBUSER_PERMISSIONS.length * 2)
  .transform((list) => SUBUSER_PERMISSIONS.filter((p) => list.includes(p)));

/** `POST /servers/:id/users`: the user by id or by email (exactly one), and what it may do. */
export const addSubuserSchema = z
  .object({
    user_id: z.uuid().optional(),
    email: emailSchema.optional(),
    permissions: subuserPermissionsSchema,
  })
  .strict()
  .refine((b) => (b.user_id === undefined) !== (b.email === undefined), { message: 'give exactly one of user_id and email', path: ['user_id'] });
export type AddSubuser = z.infer<typeof addSubuserSchema>;

/** `PATCH /servers/:id/users/:userId`: the sub-user's whole new set of permissions. */
export const updateSubuserSchema = z.object({ permissions: subuserPermissionsSchema }).strict();
export type UpdateSubuser = z.infer<typeof updateSubuserSchema>;

/** `GET /servers/:id/users`: `cursor` is the last item's user_id (items are ordered by it). */
export const listSubusersQuerySchema = pageQuerySchema.extend({ limit: z.coerce.number().int().min(1).max(MAX_SUBUSERS_PER_SERVER).default(50), cursor: z.uuid().optional() });

/**
 * Who asks the nodes service to change a server's sub-users, as the gateway vouches for it: the
 * user and its permissions. The decider re-applies contracts' rule to the server's current state,
 * so a grant cannot race a change of the granter's own grant.
 */
export const subuserActorSchema = z.object({ user_id: z.string().max(100), permissions: z.array(z.string().max(64)).max(200) });
export type SubuserActor = z.infer<typeof subuserActorSchema>;

/** `cmd.nodes.add_subuser` (the gateway resolved an email to `user_id`). */
export const addSubuserCommandSchema = z.object({ id: z.uuid(), user_id: z.uuid(), permissions: subuserPermissionsSchema, actor: subuserActorSchema });
/** `cmd.nodes.update_subuser` */
export const updateSubuserCommandSchema = z.object({ id: z.uuid(), user_id: z.uuid(), permissions: subuserPermissionsSchema, actor: subuserActorSchema });
/** `cmd.nodes.remove_subuser` */
export const removeSubuserCommandSchema = z.object({ id: z.uuid(), user_id: z.uuid(), actor: subuserActorSchema });

/** What the nodes service answers for one sub-user: the grant and the server's version after it (the ETag). */
export interface SubuserGrantView {
  server_id: string;
  user_id: string;
  permissions: SubuserPermission[];
  version: number;
}

/** A sub-user as REST answers it: the grant, with the user's name and email (null when the user is gone). */
export interface SubuserView extends SubuserGrantView {
  name: string | null;
  email: string | null;
}
