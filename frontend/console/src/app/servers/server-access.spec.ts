import { signal } from '@angular/core';
import { TestBed } from '@angular/core/testing';
import { Auth, type Me } from '../core/auth';
import { PowerButtons } from './power-buttons';
import { ServerAccess } from './server-access';
import { ServersApi } from './servers-api';

/** An Auth with a fixed user and permission set (exact names, like the API's /auth/me). */
function signedInAs(userId: string, permissions: string[]): Partial<Auth> {
  const me = signal<Me | null>({ user: { id: userId, name: userId, email: `${userId}@test` }, roles: [], permissions });
  return { me: me.asReadonly(), can: (permission: string) => permissions.includes(permission) };
}

function setUp(userId: string, permissions: string[]): void {
  TestBed.configureTestingModule({
    providers: [
      { provide: Auth, useValue: signedInAs(userId, permissions) },
      { provide: ServersApi, useValue: { power: async () => ({}) } },
    ],
  });
}

describe('ServerAccess', () => {
  it('refuses console and power on someone else\'s server to servers.read + servers.console + servers.power', () => {
    setUp('eve', ['servers.read', 'servers.console', 'servers.power']);
    const access = TestBed.inject(ServerAccess);

    expect(access.sees({ owner_id: 'owner' })).toBe(true);
    expect(access.may({ owner_id: 'owner' }, 'console')).toBe(false);
    expect(access.may({ owner_id: 'owner' }, 'power')).toBe(false);
    expect(access.may({ owner_id: 'eve' }, 'power')).toBe(true);
  });

  it('lets servers.manage control any server it holds the action permission for', () => {
    setUp('mgr', ['servers.manage', 'servers.power']);
    const access = TestBed.inject(ServerAccess);

    expect(access.may({ owner_id: 'owner' }, 'power')).toBe(true);
    expect(access.may({ owner_id: 'owner' }, 'console')).toBe(false);
  });

  it('offers change and delete to the owner only with servers.create, as the gateway decides', () => {
    setUp('owner', ['nodes.read', 'servers.power']);
    const access = TestBed.inject(ServerAccess);

    expect(access.may({ owner_id: 'owner' }, 'change')).toBe(false);
    expect(access.may({ owner_id: 'owner' }, 'delete')).toBe(false);
    expect(access.may({ owner_id: 'owner' }, 'power')).toBe(true);
  });

  it('gives a power-only sub-user power and nothing else: no console, no files, no users tab', () => {
    setUp('sam', ['servers.power', 'servers.console', 'files.read', 'servers.create']);
    const access = TestBed.inject(ServerAccess);
    const shared = { owner_id: 'owner', subusers: [{ user_id: 'sam', permissions: ['power' as const] }] };

    expect(access.sees(shared)).toBe(true);
    expect(access.may(shared, 'power')).toBe(true);
    expect(access.watches(shared, 'console')).toBe(false);
    expect(access.may(shared, 'files.read')).toBe(false);
    expect(access.may(shared, 'users')).toBe(false);
    expect(access.grantable(shared)).toEqual(['power']);
  });
});

describe('PowerButtons', () => {
  function render(ownerId: string, subusers: { user_id: string; permissions: 'power'[] }[] = []) {
    const fixture = TestBed.createComponent(PowerButtons);
    fixture.componentRef.setInput('serverId', 's1');
    fixture.componentRef.setInput('state', 'offline');
    fixture.componentRef.setInput('ownerId', ownerId);
    fixture.componentRef.setInput('subusers', subusers);
    fixture.detectChanges();
    const start = fixture.nativeElement.querySelector('[data-testid="power-start"]') as HTMLButtonElement;
    return { start };
  }

  it('disables Start on someone else\'s server for a user holding only servers.power (it would be a 403)', () => {
    setUp('eve', ['servers.read', 'servers.power']);

    const { start } = render('owner');

    expect(start.disabled).toBe(true);
  });

  it('enables Start on the user\'s own offline server', () => {
    setUp('eve', ['servers.power']);

    const { start } = render('eve');

    expect(start.disabled).toBe(false);
  });

  it('enables Start for a sub-user granted power on someone else\'s server', () => {
    setUp('sam', ['servers.power']);

    const { start } = render('owner', [{ user_id: 'sam', permissions: ['power'] }]);

    expect(start.disabled).toBe(false);
  });
});
