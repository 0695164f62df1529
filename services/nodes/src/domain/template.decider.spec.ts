import { TemplateCreated, TemplateDeleted, TemplateUpdated, type NewEvent } from '@encedeus/contracts';
import { NO_STREAM } from '@encedeus/messaging';
import { evolveTemplate, initialTemplate, templateDecider, type TemplateCommand, type TemplateData } from './template.decider';

const data: TemplateData = {
  name: 'echo',
  driver: 'process',
  startup: 'exec node server.js',
  variables: [],
  stop: { signal: 'SIGTERM', timeout_s: 10 },
  limits: { memory_mb: 256, cpu_percent: 100, disk_mb: 512 },
  restart: { on_crash: false, max_attempts: 5, backoff_ms: 1000 },
};
const created = (builtIn = false): NewEvent => ({ type: TemplateCreated.type, data: { ...data, built_in: builtIn } });
const when = (events: NewEvent[], cmd: TemplateCommand) => () => templateDecider.decide(cmd, events.reduce(evolveTemplate, initialTemplate()), NO_STREAM);

describe('template decider', () => {
  it('creates a template, and leaves an existing one as it is (built-in seeding on every boot)', () => {
    expect(when([], { type: 'create', data, builtIn: true })()).toEqual([created(true)]);
    expect(when([created(true)], { type: 'create', data, builtIn: true })()).toEqual([]);
  });

  it('records only changed fields of an update', () => {
    expect(when([created()], { type: 'update', id: 't1', patch: { name: 'echo', startup: 'node x.js' } })()).toEqual([{ type: TemplateUpdated.type, data: { startup: 'node x.js' } }]);
    expect(when([created()], { type: 'update', id: 't1', patch: { name: 'echo' } })()).toEqual([]);
  });

  it('refuses changing or deleting a built-in template', () => {
    expect(when([created(true)], { type: 'update', id: 't1', patch: { name: 'mine' } })).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    expect(when([created(true)], { type: 'delete', id: 't1', serversUsing: 0 })).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
  });

  it('refuses deleting a template servers use, and deletes an unused one', () => {
    expect(when([created()], { type: 'delete', id: 't1', serversUsing: 3 })).toThrow(expect.objectContaining({ code: 'CONFLICT', details: { servers: 3 } }));
    expect(when([created()], { type: 'delete', id: 't1', serversUsing: 0 })()).toEqual([{ type: TemplateDeleted.type, data: {} }]);
  });

  it('answers 404 for a deleted template', () => {
    expect(when([created(), { type: TemplateDeleted.type, data: {} }], { type: 'update', id: 't1', patch: { name: 'x' } })).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });
});
