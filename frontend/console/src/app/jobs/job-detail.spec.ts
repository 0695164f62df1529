import { signal } from '@angular/core';
import { TestBed } from '@angular/core/testing';
import { provideRouter } from '@angular/router';
import { Auth, type Me } from '../core/auth';
import { Realtime, type RunningCall } from '../core/realtime';
import { JobDetail } from './job-detail';
import { JobsApi, type JobDetailView } from './jobs-api';

const JOB = '0b5a4b84-4a44-4a4e-9d4a-1f1a4e3c9d10';
const running: JobDetailView = {
  id: JOB, runtime: 'bash', status: 'running', stdout: '', stderr: '', exit_code: null, execution_time_ms: null,
  node_id: 'n1', owner_id: 'u1', createdAt: '2026-12-02T02:00:00.000Z', finishedAt: null,
};
const ended: JobDetailView = { ...running, status: 'succeeded', stdout: 'line-1\nline-2\nline-3\n', exit_code: 0, execution_time_ms: 3000, finishedAt: '2026-12-02T02:00:03.000Z' };

/** The job page over a fake REST API and a fake live channel; `rest` is what GET /jobs/:id answers. */
function render(connected = true) {
  const rest = { job: running, gets: 0 };
  const calls: { call: string; params: unknown; line: (line: string, stream?: string) => void; resolve: (d: unknown) => void; cancelled: boolean }[] = [];
  const live = signal(connected);
  const me = signal<Me | null>({ user: { id: 'u1', name: 'u1', email: 'u1@test' }, roles: [], permissions: ['jobs.run'] });
  TestBed.configureTestingModule({
    providers: [
      provideRouter([]),
      { provide: Auth, useValue: { me: me.asReadonly(), can: () => false } },
      { provide: JobsApi, useValue: { get: async () => (rest.gets++, rest.job), cancel: async () => ({}) } },
      {
        provide: Realtime,
        useValue: {
          connected: live.asReadonly(),
          call: (call: string, params: unknown, onLine: (line: string, stream?: string) => void): RunningCall<unknown> => {
            let resolve!: (d: unknown) => void;
            const result = new Promise<unknown>((r) => (resolve = r));
            const entry = { call, params, line: onLine, resolve, cancelled: false };
            calls.push(entry);
            return { id: `c${calls.length}`, result, cancel: () => (entry.cancelled = true) };
          },
        },
      },
    ],
  });
  const fixture = TestBed.createComponent(JobDetail);
  fixture.componentRef.setInput('id', JOB);
  const el = fixture.nativeElement as HTMLElement;
  const tid = (id: string) => el.querySelector(`[data-testid="${id}"]`) as HTMLElement | null;
  const settle = async () => {
    for (let i = 0; i < 5; i++) {
      fixture.detectChanges();
      await fixture.whenStable();
      await new Promise((r) => setTimeout(r, 0));
    }
    fixture.detectChanges();
  };
  return { fixture, rest, calls, live, tid, settle };
}

describe('JobDetail', () => {
  it('attaches to a running job: shows the output so far, then live lines, then the result', async () => {
    const { fixture, rest, calls, tid, settle } = render();
    await settle();

    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ call: 'jobs.attach', params: { job_id: JOB } });
    expect(tid('job-detail-status')?.getAttribute('data-state')).toBe('running');
    expect(tid('job-detail-no-output')).not.toBeNull();

    calls[0].line('line-1');
    calls[0].line('line-2');
    await settle();
    expect(tid('job-detail-live-output')?.textContent).toBe('line-1\nline-2\n');
    expect(tid('job-detail-stdout')).toBeNull();
    calls[0].line('line-3');
    await settle();
    expect(tid('job-detail-live-output')?.querySelectorAll('[data-testid="job-detail-live-line"]')).toHaveLength(3);

    rest.job = ended;
    calls[0].resolve({ job_id: JOB, status: 'succeeded', stdout: ended.stdout, stderr: '', exit_code: 0, execution_time_ms: 3000 });
    await settle();
    expect(tid('job-detail-status')?.getAttribute('data-state')).toBe('succeeded');
    expect(tid('job-detail-stdout')?.textContent).toBe('line-1\nline-2\nline-3\n');
    expect(tid('job-detail-exit-code')?.textContent).toBe('0');
    expect(tid('job-detail-live-output')).toBeNull();
    expect(calls).toHaveLength(1);
    fixture.destroy();
  });

  it('without the live channel it polls, and attaches once the channel is up', async () => {
    const { fixture, calls, live, tid, settle } = render(false);
    await settle();

    expect(calls).toHaveLength(0);
    expect(tid('job-detail-waiting')).not.toBeNull();
    live.set(true);
    await settle();
    expect(calls).toHaveLength(1);
    expect(tid('job-detail-waiting')).toBeNull();
    fixture.destroy();
    // Leaving the page detaches; the job runs on.
    expect(calls[0].cancelled).toBe(true);
  });

  it('does not attach to a job that has ended', async () => {
    const { fixture, rest, calls, tid, settle } = render();
    rest.job = ended;
    await settle();

    expect(calls).toHaveLength(0);
    expect(tid('job-detail-stdout')?.textContent).toBe(ended.stdout);
    fixture.destroy();
  });
});
