import { ApiKeyCreated, ApiKeyRevoked, DomainError, event, NotFoundError, type CloudEvent, type EventData, type NewEvent } from '@encedeus/contracts';

/** State of the `apikey` aggregate (the hash is not part of it: it lives in auth.api_keys). */
export interface ApiKeyState {
  status: 'none' | 'active' | 'revoked';
  id: string;
}

export const initialApiKeyState = (): ApiKeyState => ({ status: 'none', id: '' });

export type ApiKeyCommand =
  | ({ kind: 'create' } & EventData<typeof ApiKeyCreated>)
  | { kind: 'revoke'; reason: 'revoked' | 'owner_deleted' };

export function decideApiKey(command: ApiKeyCommand, state: ApiKeyState): NewEvent[] {
  if (command.kind === 'create') {
    if (state.status !== 'none') throw new DomainError('ALREADY_EXISTS', `API key ${command.keyId} already exists`);
    const { kind: _kind, ...data } = command;
    return [event(ApiKeyCreated, data)];
  }
  if (state.status === 'none') throw new NotFoundError('API key');
  if (state.status === 'revoked') return [];
  return [event(ApiKeyRevoked, { keyId: state.id, reason: command.reason })];
}

export function evolveApiKey(state: ApiKeyState, e: CloudEvent): ApiKeyState {
  if (e.type === ApiKeyCreated.type) return { status: 'active', id: (e.data as EventData<typeof ApiKeyCreated>).keyId };
  if (e.type === ApiKeyRevoked.type) return { ...state, status: 'revoked' };
  return state;
}

export const apiKeyReducer = { name: 'apikey-v1', initialState: initialApiKeyState, evolve: evolveApiKey };
