import { ChangeDetectionStrategy, Component, DestroyRef, computed, inject, signal } from '@angular/core';
import { DatePipe } from '@angular/common';
import { MatButtonModule } from '@angular/material/button';
import { MatDialog } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSelectModule } from '@angular/material/select';
import { MatSnackBar } from '@angular/material/snack-bar';
import { MatTableModule } from '@angular/material/table';
import { MatTooltipModule } from '@angular/material/tooltip';
import { firstValueFrom } from 'rxjs';
import { toApiError, readableMessage } from '../core/api-error';
import { Auth } from '../core/auth';
import { NamesPipe } from '../shared/format';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { confirmAction } from '../shared/confirm';
import { Pager } from '../shared/pager';
import { StateChip } from '../shared/state-chip';
import { Avatar } from './avatar';
import { Role, RolesApi } from './roles-api';
import { UserDialog, UserDialogData } from './user-dialog';
import { disableConfirmation } from './user-rules';
import { User, UserFilter, UsersApi } from './users-api';

/** Users with filters; create, edit, disable and change role. */
@Component({
  selector: 'adm-user-list',
  imports: [MatTableModule, MatButtonModule, MatFormFieldModule, MatInputModule, MatSelectModule, MatProgressBarModule, MatTooltipModule, DatePipe, NamesPipe, Icon, Notice, Pager, StateChip, Avatar],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head">
      <h1>Users</h1>
      @if (canManage()) {
        <button mat-flat-button (click)="edit(null)" data-testid="user-create"><adm-icon name="add" /> New user</button>
      }
    </header>
    <div class="toolbar-row">
      <mat-form-field class="search">
        <mat-label>Search name or email</mat-label>
        <input matInput [value]="filter().q" (input)="search($any($event.target).value)" data-testid="user-filter" />
      </mat-form-field>
      <mat-form-field>
        <mat-label>Role</mat-label>
        <mat-select [value]="filter().role" (valueChange)="setFilter({ role: $event })" data-testid="user-role-filter">
          <mat-option value="">Any</mat-option>
          @for (r of roles(); track r.id) {
            <mat-option [value]="r.name">{{ r.name }}</mat-option>
          }
        </mat-select>
      </mat-form-field>
      <mat-form-field>
        <mat-label>Status</mat-label>
        <mat-select [value]="filter().disabled" (valueChange)="setFilter({ disabled: $event })" data-testid="user-status-filter">
          <mat-option value="">Any</mat-option>
          <mat-option value="false">Active</mat-option>
          <mat-option value="true">Disabled</mat-option>
        </mat-select>
      </mat-form-field>
    </div>
    @if (list.loading()) {
      <mat-progress-bar mode="indeterminate" />
    }
    @if (list.error() || list.empty()) {
      <adm-notice [error]="list.error()" (retry)="list.reload()">No users match.</adm-notice>
    } @else {
      <div class="table-wrap">
        <table mat-table [dataSource]="list.items()" data-testid="user-table">
          <ng-container matColumnDef="name">
            <th mat-header-cell *matHeaderCellDef>Name</th>
            <td mat-cell *matCellDef="let u">
              <span class="who"><adm-avatar [userId]="u.id" [name]="u.name" [hasPicture]="u.hasPicture ?? true" [revision]="(u.hasPicture ?? true) ? (avatarRevisions().get(u.id) ?? 0) : 0" /> {{ u.name }}</span>
            </td>
          </ng-container>
          <ng-container matColumnDef="email">
            <th mat-header-cell *matHeaderCellDef>Email</th>
            <td mat-cell *matCellDef="let u">{{ u.email }}</td>
          </ng-container>
          <ng-container matColumnDef="roles">
            <th mat-header-cell *matHeaderCellDef>Roles</th>
            <td mat-cell *matCellDef="let u">{{ u.roles | names }}</td>
          </ng-container>
          <ng-container matColumnDef="status">
            <th mat-header-cell *matHeaderCellDef>Status</th>
            <td mat-cell *matCellDef="let u"><adm-state-chip [state]="u.disabled ? 'disabled' : 'active'" data-testid="user-status" /></td>
          </ng-container>
          <ng-container matColumnDef="created">
            <th mat-header-cell *matHeaderCellDef>Created</th>
            <td mat-cell *matCellDef="let u">{{ u.createdAt | date: 'mediumDate' }}</td>
          </ng-container>
          <ng-container matColumnDef="actions">
            <th mat-header-cell *matHeaderCellDef></th>
            <td mat-cell *matCellDef="let u" class="actions">
              @if (canManage()) {
                <button mat-icon-button (click)="edit(u)" matTooltip="Edit" aria-label="Edit" data-testid="user-edit"><adm-icon name="edit" /></button>
                <button mat-icon-button (click)="toggleDisabled(u)" [matTooltip]="u.disabled ? 'Enable' : 'Disable'" [attr.aria-label]="u.disabled ? 'Enable' : 'Disable'"
                        data-testid="user-toggle-disabled"><adm-icon [name]="u.disabled ? 'play' : 'block'" /></button>
              }
            </td>
          </ng-container>
          <tr mat-header-row *matHeaderRowDef="columns"></tr>
          <tr mat-row *matRowDef="let u; columns: columns" data-testid="user-row" [attr.data-user-id]="u.id" [attr.data-user-email]="u.email"></tr>
        </table>
      </div>
      <adm-pager [list]="list" />
    }
  `,
  styles: `.search { width: 320px; } .who { display: inline-flex; align-items: center; gap: 8px; } .actions { text-align: right; white-space: nowrap; }`,
})
export class UserList {
  private readonly api = inject(UsersApi);
  private readonly rolesApi = inject(RolesApi);
  private readonly auth = inject(Auth);
  private readonly dialog = inject(MatDialog);
  private readonly snack = inject(MatSnackBar);
  protected readonly filter = signal<UserFilter>({ q: '', role: '', disabled: '' });
  protected readonly list = this.api.list(() => this.filter());
  protected readonly roles = signal<Role[]>([]);
  /**
   * Bumped for a user whose edit dialog closed (it may have uploaded a new picture), so that row's
   * picture is fetched again. Only rows of users with a picture take it: a user without one would be
   * asked for a picture the gateway answers 404 to.
   */
  protected readonly avatarRevisions = signal<ReadonlyMap<string, number>>(new Map());
  protected readonly canManage = computed(() => this.auth.can('users.manage'));
  protected readonly columns = ['name', 'email', 'roles', 'status', 'created', 'actions'];
  private searchTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    inject(DestroyRef).onDestroy(() => {
      this.list.destroy();
      clearTimeout(this.searchTimer);
    });
    this.list.first();
    if (this.auth.can('roles.read')) void this.rolesApi.all().then((r) => this.roles.set(r), () => undefined);
  }

  protected search(q: string): void {
    clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(() => this.setFilter({ q }), 250);
  }

  protected setFilter(change: Partial<UserFilter>): void {
    this.filter.update((f) => ({ ...f, ...change }));
    this.list.first();
  }

  protected async edit(user: User | null): Promise<void> {
    const data: UserDialogData = { user, roles: this.roles() };
    const ref = this.dialog.open<UserDialog, UserDialogData, User | true>(UserDialog, { data, width: '520px' });
    const result = await firstValueFrom(ref.afterClosed());
    if (user) this.avatarRevisions.update((m) => new Map(m).set(user.id, (m.get(user.id) ?? 0) + 1));
    if (!result) {
      // A picture uploaded before Cancel is saved: reload so the row learns it has one.
      if (user) this.list.reload();
      return;
    }
    this.snack.open(user ? 'User saved' : 'User created', undefined, { duration: 3000 });
    if (user) this.list.reload();
    else this.list.first();
  }

  /** The row's quick toggle: enabling is immediate, disabling asks first as the edit dialog does. */
  protected async toggleDisabled(user: User): Promise<void> {
    if (!user.disabled && !(await confirmAction(this.dialog, disableConfirmation(user)))) return;
    try {
      await this.api.update(user.id, { disabled: !user.disabled });
      this.list.patch((u) => u.id === user.id, (u) => ({ ...u, disabled: !user.disabled }));
      this.snack.open(user.disabled ? `${user.name} enabled` : `${user.name} disabled`, undefined, { duration: 3000 });
    } catch (e) {
      const err = toApiError(e);
      this.snack.open(readableMessage(err), 'Dismiss', { duration: 6000 });
    }
  }
}
