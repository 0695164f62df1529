import { alertToastText } from './alert-toasts';

describe('alertToastText', () => {
  it('says which rule fired, on what, and the value', () => {
    expect(alertToastText('alert.raised', { name: 'hot', target: 'server:s1', field: 'cpu_percent', comparator: '>', threshold: 80, value: 93.456 })).toBe('Alert: hot — cpu_percent > 80 on server:s1 (93.46)');
    expect(alertToastText('alert.resolved', { name: 'hot', target: 'server:s1', field: 'cpu_percent', value: null })).toBe('Resolved: hot on server:s1');
    expect(alertToastText('server.started', { name: '', target: '', field: '', value: null })).toBeNull();
  });

  it('leaves alone every other event of the feed, whose data has no value (it threw on each one)', () => {
    expect(alertToastText('server.running', { run_id: 'r1' } as never)).toBeNull();
    expect(alertToastText('user.created', undefined as never)).toBeNull();
  });
});
