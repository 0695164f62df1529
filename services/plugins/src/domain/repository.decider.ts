import {
  ConflictError,
  event,
  NotFoundError,
  PluginRepositoryAdded,
  PluginRepositoryRemoved,
  PluginRepositorySynced,
  type CloudEvent,
  type NewEvent,
} from '@encedeus/contracts';
import type { Decider } from '@encedeus/messaging';

/** A repository of plugins and templates (aggregate `plugin`, id = the repository). */
export interface PluginRepository {
  added: boolean;
  removed: boolean;
  name: string;
  url: string;
  branch: string;
  commit: string | null;
  error: string | null;
}

export const initialRepository = (): PluginRepository => ({ added: false, removed: false, name: '', url: '', branch: 'main', commit: null, error: null });

export type RepositoryCommand =
  | { type: 'add'; name: string; url: string; branch: string }
  | { type: 'record_sync'; commit: string | null; plugins: number; templates: number; error: string | null; skipped: string[] }
  | { type: 'remove' };

export function evolveRepository(state: PluginRepository, e: Pick<CloudEvent, 'type' | 'data'>): PluginRepository {
  const d = e.data as Record<string, any>;
  switch (e.type) {
    case PluginRepositoryAdded.type:
      return { ...state, added: true, name: d.name, url: d.url, branch: d.branch };
    case PluginRepositorySynced.type:
      return { ...state, commit: d.commit ?? state.commit, error: d.error };
    case PluginRepositoryRemoved.type:
      return { ...state, removed: true };
    default:
      return state;
  }
}

function decide(command: RepositoryCommand, state: PluginRepository): readonly NewEvent[] {
  switch (command.type) {
    case 'add':
      if (state.added) {
        if (state.removed) throw new ConflictError('This repository was removed; add it again');
        return [];
      }
      return [event(PluginRepositoryAdded, { name: command.name, url: command.url, branch: command.branch })];
    case 'record_sync':
      if (!state.added || state.removed) return [];
      // A scheduled sync that found nothing new leaves no event behind.
      if ((command.commit ?? state.commit) === state.commit && command.error === state.error) return [];
      return [
        event(PluginRepositorySynced, {
          commit: command.commit,
          plugins: command.plugins,
          templates: command.templates,
          error: command.error,
          ...(command.skipped.length > 0 ? { skipped: command.skipped.slice(0, 50) } : {}),
        }),
      ];
    case 'remove':
      if (!state.added || state.removed) throw new NotFoundError('Repository');
      return [event(PluginRepositoryRemoved, {})];
  }
}

export const repositoryDecider: Decider<PluginRepository, RepositoryCommand> = {
  name: 'plugin-repository-v1',
  initialState: initialRepository,
  evolve: evolveRepository,
  decide,
};
