import { ChangeDetectionStrategy, Component, computed, effect, inject, input, output, signal, untracked } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCheckboxModule } from '@angular/material/checkbox';
import { MatDialog } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSnackBar } from '@angular/material/snack-bar';
import { MatTooltipModule } from '@angular/material/tooltip';
import { ApiError, toApiError, readableMessage } from '../core/api-error';
import { confirmAction } from '../shared/confirm';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { ServerAccess } from './server-access';
import { SUBUSER_PERMISSIONS, SUBUSER_PERMISSION_LABELS, ServerUsersApi, type Subuser, type SubuserPermission } from './server-users-api';
import { Server } from './servers-api';

/** One row being edited: the permissions ticked now. */
interface Row extends Subuser {
  draft: SubuserPermission[];
}

/**
 * The Users tab of a server (issue 14, docs/subusers.md): its sub-users with a checkbox per grant,
 * adding one by email, saving a changed row, removing one (confirmed). A box the signed-in user
 * could not grant (contracts' grantableSubuserPermissions: what it can do there itself) is disabled,
 * so a click never ends in a 403.
 */
@Component({
  selector: 'adm-server-users',
  imports: [FormsModule, MatButtonModule, MatCheckboxModule, MatFormFieldModule, MatInputModule, MatProgressBarModule, MatTooltipModule, Icon, Notice],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <form class="add" (ngSubmit)="add()" data-testid="server-users-add-form">
      <mat-form-field class="email">
        <mat-label>Email of the user to add</mat-label>
        <input matInput type="email" name="email" [(ngModel)]="email" autocomplete="off" required data-testid="server-users-email" />
      </mat-form-field>
      <div class="perms">
        @for (p of permissions; track p) {
          <mat-checkbox [checked]="newPermissions().includes(p)" [disabled]="!grantable().includes(p)" (change)="toggleNew(p, $event.checked)"
                        [matTooltip]="labels[p]" [attr.data-testid]="'server-users-new-' + p"><code>{{ p }}</code></mat-checkbox>
        }
      </div>
      <button mat-flat-button type="submit" [disabled]="adding() || !email.trim()" data-testid="server-users-add"><adm-icon name="add" /> Add user</button>
    </form>
    @if (loading()) { <mat-progress-bar mode="indeterminate" /> }
    @if (error(); as e) { <adm-notice [error]="e" (retry)="load()" /> }
    <table class="users" data-testid="server-users-table">
      <thead>
        <tr>
          <th>User</th>
          @for (p of permissions; track p) { <th class="perm" [matTooltip]="labels[p]"><code>{{ p }}</code></th> }
          <th></th>
        </tr>
      </thead>
      <tbody>
        @for (r of rows(); track r.user_id) {
          <tr data-testid="server-user-row" [attr.data-user-email]="r.email" [attr.data-user-id]="r.user_id">
            <td>{{ r.name ?? r.user_id }}<div class="hint">{{ r.email }}</div></td>
            @for (p of permissions; track p) {
              <td class="perm">
                <mat-checkbox [checked]="r.draft.includes(p)" [disabled]="!editable(r, p)" (change)="toggle(r, p, $event.checked)"
                              [attr.aria-label]="labels[p]" [attr.data-testid]="'server-user-perm-' + p"></mat-checkbox>
              </td>
            }
            <td class="actions">
              <button mat-stroked-button (click)="save(r)" [disabled]="!changed(r)" data-testid="server-user-save">Save</button>
              <button mat-icon-button class="danger" (click)="remove(r)" aria-label="Remove" matTooltip="Remove from this server" data-testid="server-user-remove"><adm-icon name="delete" /></button>
            </td>
          </tr>
        } @empty {
          <tr><td [attr.colspan]="permissions.length + 2">Nobody else uses this server yet.</td></tr>
        }
      </tbody>
    </table>
  `,
  styles: `
    .add { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; margin-bottom: 8px; }
    .email { min-width: 280px; }
    .perms { display: flex; flex-wrap: wrap; gap: 0 8px; flex: 1 1 400px; }
    .users { width: 100%; border-collapse: collapse; }
    .users th, .users td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--mat-sys-outline-variant, #ddd); }
    .users .perm { text-align: center; font-size: 11px; }
    .actions { display: flex; gap: 4px; justify-content: flex-end; align-items: center; }
    .hint { font-size: 12px; opacity: 0.7; }
  `,
})
export class ServerUsers {
  private readonly api = inject(ServerUsersApi);
  private readonly access = inject(ServerAccess);
  private readonly dialog = inject(MatDialog);
  private readonly snack = inject(MatSnackBar);
  readonly server = input.required<Server>();
  /** The list changed (the page reloads the server so its `subusers` stay current). */
  readonly changedList = output<void>();

  protected readonly permissions = SUBUSER_PERMISSIONS;
  protected readonly labels = SUBUSER_PERMISSION_LABELS;
  protected readonly rows = signal<Row[]>([]);
  protected readonly loading = signal(false);
  protected readonly adding = signal(false);
  protected readonly error = signal<ApiError | null>(null);
  protected email = '';
  protected readonly newPermissions = signal<SubuserPermission[]>(['power']);
  protected readonly grantable = computed(() => this.access.grantable(this.server()));

  constructor() {
    effect(() => {
      this.server().id;
      untracked(() => void this.load());
    });
  }

  async load(): Promise<void> {
    this.loading.set(true);
    try {
      const list = await this.api.list(this.server().id);
      this.rows.set(list.map((s) => ({ ...s, draft: [...s.permissions] })));
      this.error.set(null);
    } catch (e) {
      this.error.set(toApiError(e));
    } finally {
      this.loading.set(false);
    }
  }

  /** A box may change when the signed-in user could grant it; a sub-user's own row is never editable. */
  protected editable(r: Row, p: SubuserPermission): boolean {
    return this.grantable().includes(p) && r.user_id !== this.access.userId();
  }

  protected changed(r: Row): boolean {
    return r.draft.length !== r.permissions.length || r.draft.some((p) => !r.permissions.includes(p));
  }

  protected toggleNew(p: SubuserPermission, checked: boolean): void {
    this.newPermissions.update((list) => (checked ? [...new Set([...list, p])] : list.filter((x) => x !== p)));
  }

  protected toggle(r: Row, p: SubuserPermission, checked: boolean): void {
    this.rows.update((rows) => rows.map((x) => (x.user_id === r.user_id ? { ...x, draft: checked ? [...new Set([...x.draft, p])] : x.draft.filter((y) => y !== p) } : x)));
  }

  protected async add(): Promise<void> {
    const email = this.email.trim();
    if (!email) return;
    this.adding.set(true);
    try {
      const added = await this.api.add(this.server().id, email, SUBUSER_PERMISSIONS.filter((p) => this.newPermissions().includes(p)));
      this.email = '';
      this.snack.open(`${added.name ?? added.email} may now use this server`, undefined, { duration: 3000 });
      await this.load();
      this.changedList.emit();
    } catch (e) {
      const err = toApiError(e);
      this.snack.open(readableMessage(err), 'Dismiss', { duration: 6000 });
    } finally {
      this.adding.set(false);
    }
  }

  protected async save(r: Row): Promise<void> {
    try {
      await this.api.update(this.server().id, r.user_id, SUBUSER_PERMISSIONS.filter((p) => r.draft.includes(p)));
      this.snack.open('Permissions saved', undefined, { duration: 3000 });
      await this.load();
      this.changedList.emit();
    } catch (e) {
      const err = toApiError(e);
      this.snack.open(readableMessage(err), 'Dismiss', { duration: 6000 });
    }
  }

  protected async remove(r: Row): Promise<void> {
    const who = r.name ?? r.email ?? r.user_id;
    if (!(await confirmAction(this.dialog, { title: `Remove ${who}?`, message: `${who} loses every permission on this server at once.`, action: 'Remove' }))) return;
    try {
      await this.api.remove(this.server().id, r.user_id);
      await this.load();
      this.changedList.emit();
    } catch (e) {
      const err = toApiError(e);
      this.snack.open(readableMessage(err), 'Dismiss', { duration: 6000 });
    }
  }
}
