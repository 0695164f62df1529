import { ConflictError, event, integrationCredentialsRevoked, type CloudEvent, type NewEvent } from '@encedeus/contracts';

/** One issued integrator credential, folded from `evt.integration.<id>`. */
export interface IntegrationState {
  id: string;
  name: string;
  filter: string;
  expiresAt: string;
  /** Public key of its NATS user; absent on credentials issued before revocation existed. */
  userPub?: string;
  consumerNames: string[];
  issuedAt: string;
  revokedAt?: string;
  /** Aggregate version (the expected revision of the next append). */
  version: number;
}

/** Folds one recorded event of `evt.integration.<id>` into the state of that credential. */
export function evolveIntegration(state: IntegrationState | undefined, id: string, recorded: CloudEvent): IntegrationState | undefined {
  const data = recorded.data as Record<string, unknown>;
  switch (recorded.type) {
    case 'integration.credentials_issued':
      return {
        id,
        name: String(data.name),
        filter: String(data.filter),
        expiresAt: String(data.expiresAt),
        userPub: data.userPub as string | undefined,
        consumerNames: (data.consumerNames as string[] | undefined) ?? [],
        issuedAt: recorded.time,
        version: recorded.aggregateversion,
      };
    case 'integration.credentials_revoked':
      return state && { ...state, revokedAt: String(data.revokedAt), version: recorded.aggregateversion };
    default:
      return state && { ...state, version: recorded.aggregateversion };
  }
}

/**
 * Revoking: the first revocation records the event; a repeated one records nothing (the caller
 * still re-applies the side effects, so a retry after a failed push completes the revocation).
 * Credentials issued before revocation existed carry no user key and cannot be revoked.
 */
export function decideRevoke(state: IntegrationState, command: { revokedAt: string }): NewEvent[] {
  if (!state.userPub) throw new ConflictError(`Credentials ${state.id} were issued before revocation existed; they expire at ${state.expiresAt}`, { id: state.id, expiresAt: state.expiresAt });
  if (state.revokedAt) return [];
  return [event(integrationCredentialsRevoked, { name: state.name, userPub: state.userPub, revokedAt: command.revokedAt })];
}

/**
 * The account's revocation list: every revoked credential that has not expired yet (an expired JWT
 * is refused anyway, so the list does not grow forever). Values are epoch seconds; the server
 * refuses that user's JWTs issued at or before them.
 */
export function revocationList(states: Iterable<IntegrationState>, now: Date): Record<string, number> {
  const list: Record<string, number> = {};
  for (const s of states) {
    if (!s.revokedAt || !s.userPub || Date.parse(s.expiresAt) <= now.getTime()) continue;
    list[s.userPub] = Math.ceil(Date.parse(s.revokedAt) / 1000);
  }
  return list;
}
