import { randomUUID } from 'node:crypto';
import type { INestMicroservice } from '@nestjs/common';
import { NatsContext } from '@nestjs/microservices';
import { startServiceApp } from '@encedeus/messaging';
import { ReadModel } from '../src/common/read-model';
import { RoleCommandsController } from '../src/commands/role-commands.controller';
import { RoleNameReservations } from '../src/commands/role-name-reservations';
import { UserCommandsController } from '../src/commands/user-commands.controller';
import { UsersModule } from '../src/users.module';
import { startIdentity, type IdentityHarness } from './identity-harness';

/**
 * Two users-service instances on one NATS and one Postgres (the replicas infra/k8s deploys). Each
 * command is handed to one instance's own controller, so a race really crosses processes' locks.
 */
describe('name uniqueness across two users instances', () => {
  let h: IdentityHarness;
  let second: INestMicroservice;
  const ctx = () => new NatsContext(['cmd.users.test', undefined as never]);
  const instances = () => [h.users, second];
  const roles = (app: INestMicroservice) => app.get(RoleCommandsController);
  const users = (app: INestMicroservice) => app.get(UserCommandsController);
  const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  const outcome = (p: Promise<unknown>) => p.then(() => 'created', (e: { code?: string }) => e.code ?? String(e));

  beforeAll(async () => {
    h = await startIdentity();
    const servers = h.env.nats.url;
    const creds = await h.env.nats.creds('users');
    second = await startServiceApp(
      'users',
      UsersModule.forRoot({ nats: { servers, creds }, databaseUrl: h.env.db.url, bootstrap: false }),
      { servers, creds, logger: ['error'] as never },
    );
  });
  afterAll(async () => {
    await second?.close().catch(() => undefined);
    await h?.stop();
  });

  it('lets exactly one of two instances create a role name, 20 times over', async () => {
    for (let i = 0; i < 20; i++) {
      const name = `race-${run}-${i}`;
      const [a, b] = instances();

      const results = await Promise.all([
        outcome(roles(a).create({ name, permissions: [] }, ctx())),
        outcome(roles(b).create({ name: i % 2 ? name.toUpperCase() : name, permissions: [] }, ctx())),
      ]);

      expect(results.sort()).toEqual(['ALREADY_EXISTS', 'created']);
    }
  });

  it('lets exactly one of two instances create a user name or an email', async () => {
    for (let i = 0; i < 6; i++) {
      const [a, b] = instances();
      const sameName = i % 2 === 0;
      const body = (n: number) => ({
        name: sameName ? `racer-${run}-${i}` : `racer-${run}-${i}-${n}`,
        email: sameName ? `racer-${run}-${i}-${n}@race.test` : `racer-${run}-${i}@race.test`,
        password: 'racer-password',
      });

      const results = await Promise.all([outcome(users(a).create(body(1), ctx())), outcome(users(b).create(body(2), ctx()))]);

      expect(results.sort()).toEqual(['ALREADY_EXISTS', 'created']);
    }
  });

  it('frees a name on rename and on delete, for either instance', async () => {
    const [a, b] = instances();
    const first = `free-${run}`;
    const renamed = `freed-${run}`;
    const role = await roles(a).create({ name: first, permissions: [] }, ctx());

    expect(await outcome(roles(b).create({ name: first.toUpperCase(), permissions: [] }, ctx()))).toBe('ALREADY_EXISTS');
    await roles(b).update({ id: role.id, name: renamed }, ctx());
    expect(await outcome(roles(a).create({ name: first.toUpperCase(), permissions: [] }, ctx()))).toBe('created');
    expect(await outcome(roles(a).create({ name: renamed, permissions: [] }, ctx()))).toBe('ALREADY_EXISTS');
    await roles(a).delete({ id: role.id }, ctx());
    expect(await outcome(roles(b).create({ name: renamed, permissions: [] }, ctx()))).toBe('created');
  });

  it('compares role names by ASCII case only, as role_name names roles', async () => {
    const [a, b] = instances();
    const name = `kit-${run}`;
    await roles(a).create({ name, permissions: [] }, ctx());

    // `İ` is no `I`: a look-alike is its own role and never takes the name of another.
    const lookAlike = await outcome(roles(b).create({ name: `${name}-İ`, permissions: [] }, ctx()));
    const plain = await outcome(roles(a).create({ name: `${name}-i`, permissions: [] }, ctx()));
    const shouting = await outcome(roles(b).create({ name: name.toUpperCase(), permissions: [] }, ctx()));

    expect([lookAlike, plain, shouting]).toEqual(['created', 'created', 'ALREADY_EXISTS']);
  });

  it('takes over a reservation abandoned by a crash once its owner never got the name', async () => {
    const name = `orphan-${run}`;
    await h.users.get(RoleNameReservations).reserve(name, randomUUID());

    const inFlight = await outcome(roles(second).create({ name, permissions: [] }, ctx()));
    await second.get(ReadModel).query(`update users.name_reservations set reserved_at = now() - interval '2 minutes' where key = $1`, [name]);
    const abandoned = await outcome(roles(second).create({ name, permissions: [] }, ctx()));

    expect([inFlight, abandoned]).toEqual(['ALREADY_EXISTS', 'created']);
  });
});
