import { alertTargetLabel, alertToastText } from './alert-toasts';

const SERVER = '7829bcc3-3357-4e7f-95fc-bfe752d7c578';

describe('alertToastText', () => {
  it('says which rule fired, on which named target, and the value', () => {
    expect(alertToastText('alert.raised', { name: 'hot', target: `server:${SERVER}`, field: 'cpu_percent', comparator: '>', threshold: 80, value: 93.456 }, 'e2e-echo')).toBe('Alert: hot — cpu_percent > 80 on server e2e-echo (93.46)');
    expect(alertToastText('alert.resolved', { name: 'hot', target: `server:${SERVER}`, field: 'cpu_percent', value: null }, 'e2e-echo')).toBe('Resolved: hot on server e2e-echo');
    expect(alertToastText('server.started', { name: '', target: '', field: '', value: null })).toBeNull();
  });

  it('shows a short id, never the whole UUID, when the target has no name the reader may see (issue 14)', () => {
    const text = alertToastText('alert.raised', { name: 'hot', target: `node:${SERVER}`, field: 'cpu_percent', comparator: '>', threshold: 80, value: 90 });

    expect(text).toBe('Alert: hot — cpu_percent > 80 on node 7829bcc3 (90)');
    expect(text).not.toContain(SERVER);
  });

  it('leaves alone every other event of the feed, whose data has no value (it threw on each one)', () => {
    expect(alertToastText('server.running', { run_id: 'r1' } as never)).toBeNull();
    expect(alertToastText('user.created', undefined as never)).toBeNull();
  });
});

describe('alertTargetLabel', () => {
  it('names a rule target by kind and name, else by kind and short id', () => {
    expect(alertTargetLabel(`server:${SERVER}`, 'e2e-echo')).toBe('server e2e-echo');
    expect(alertTargetLabel(`server:${SERVER}`)).toBe('server 7829bcc3');
    expect(alertTargetLabel(`node:${SERVER}`, '')).toBe('node 7829bcc3');
    expect(alertTargetLabel('fleet')).toBe('fleet');
  });
});
