import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import {
  ALL_PERMISSIONS,
  AuthVerbs,
  BUILT_IN_ROLE_IDS,
  DEFAULT_USER_PERMISSIONS,
  event,
  FIRST_ADMIN_ID,
  RoleUpdated,
} from '@encedeus/contracts';
import { CommandClient, EventStore, retry } from '@encedeus/messaging';
import { generatePassword } from '@encedeus/security';
import { AggregateRunner } from '../common/aggregate-runner';
import { ReadModel } from '../common/read-model';
import { RoleNameReservations } from '../commands/role-name-reservations';
import { decideRole, roleReducer } from '../domain/role.decider';
import { decideUser, userReducer } from '../domain/user.decider';
import { USERS_OPTIONS, type UsersModuleOptions } from '../users.options';

const SYSTEM = { actor: 'system' };

/**
 * On boot: the built-in roles `admin` (every permission, kept in step when the list grows) and
 * `user` exist, and a first admin exists. The admin's password comes from ENCEDEUS_ADMIN_PASSWORD;
 * when none is configured one is generated and logged once — the only secret ever logged.
 * Runs in the background and retries until auth answers (the services may start in any order).
 */
@Injectable()
export class IdentityBootstrap implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('IdentityBootstrap');
  private stopped = false;
  /** Resolves once built-in roles and the first admin exist. */
  ready!: Promise<void>;

  constructor(
    private readonly runner: AggregateRunner,
    private readonly store: EventStore,
    private readonly commands: CommandClient,
    private readonly readModel: ReadModel,
    private readonly names: RoleNameReservations,
    @Inject(USERS_OPTIONS) private readonly options: UsersModuleOptions,
  ) {}

  onApplicationBootstrap(): void {
    this.ready = this.options.bootstrap === false ? Promise.resolve() : this.loop();
    this.ready.catch(() => undefined);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
  }

  private async loop(): Promise<void> {
    await retry(
      async () => {
        if (this.stopped) return;
        await this.ensureRoles();
        await this.ensureFirstAdmin();
      },
      {
        attempts: Number.POSITIVE_INFINITY,
        retryIf: () => !this.stopped,
        backoffMs: (attempt) => Math.min(2000, 200 * attempt),
        onRetry: (error, attempt) => {
          if (attempt % 10 === 1) this.logger.warn(`bootstrap not done yet (${(error as Error).message}); retrying`);
        },
      },
    );
  }

  async ensureRoles(): Promise<void> {
    const roles = [
      { id: BUILT_IN_ROLE_IDS.admin, name: 'admin', permissions: [...ALL_PERMISSIONS].sort() },
      { id: BUILT_IN_ROLE_IDS.user, name: 'user', permissions: [...DEFAULT_USER_PERMISSIONS].sort() },
    ];
    for (const role of roles) {
      // Built-in names are reserved like any other (RoleNameReservations), before the role exists.
      if ((await this.store.load('role', role.id, roleReducer)).state.status === 'none') await this.names.reserve(role.name, role.id);
      await this.runner.execute('role', role.id, roleReducer, SYSTEM, (state) => {
        if (state.status === 'none') return decideRole({ kind: 'create', ...role, builtIn: true }, state);
        // New permissions added to libs/contracts reach admin without an operator's action.
        if (role.name === 'admin' && state.status === 'active' && state.permissions.join() !== role.permissions.join()) {
          return [event(RoleUpdated, { roleId: role.id, permissions: role.permissions })];
        }
        return [];
      });
    }
  }

  async ensureFirstAdmin(): Promise<void> {
    const { revision } = await this.store.load('user', FIRST_ADMIN_ID, userReducer);
    if (revision.version > 0) return;
    await this.readModel.fresh(await this.store.lastSequence());
    const [existing] = await this.readModel.query(`select 1 from users.user_roles where role_id = $1 limit 1`, [BUILT_IN_ROLE_IDS.admin]);
    if (existing) return;
    const email = (this.options.adminEmail ?? 'admin@encedeus.local').toLowerCase();
    const generated = !this.options.adminPassword;
    const password = this.options.adminPassword ?? generatePassword();
    const name = 'admin';
    // Staged like any create (UserCommandsController.create): confirmed by auth on user.created.
    const result = await this.runner.execute('user', FIRST_ADMIN_ID, userReducer, SYSTEM, async (state) => {
      const events = decideUser({ kind: 'create', id: FIRST_ADMIN_ID, name, email, roleIds: [BUILT_IN_ROLE_IDS.admin], serviceAccount: false, otpEnabled: false }, state);
      await this.commands.send('auth', AuthVerbs.setCredentials, { userId: FIRST_ADMIN_ID, name, email, password, create: true }, SYSTEM);
      return events;
    });
    if (!result.written) return;
    if (generated) {
      // The one secret Encedeus ever logs, once, on the very first start.
      this.logger.warn(`\n==== FIRST ADMIN (shown once) ====\n  email:    ${email}\n  username: ${name}\n  password: ${password}\n=================================`);
    } else {
      this.logger.log(`first admin ${email} created`);
    }
  }
}
