import { ChangeDetectionStrategy, Component, DestroyRef, computed, inject } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatDialog } from '@angular/material/dialog';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSnackBar } from '@angular/material/snack-bar';
import { MatTableModule } from '@angular/material/table';
import { MatTooltipModule } from '@angular/material/tooltip';
import { firstValueFrom } from 'rxjs';
import { toApiError, readableMessage } from '../core/api-error';
import { Auth } from '../core/auth';
import { confirmAction } from '../shared/confirm';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { Pager } from '../shared/pager';
import { RoleDialog, RoleDialogData } from './role-dialog';
import { Role, RolesApi } from './roles-api';

/** Roles and the permissions they hold. */
@Component({
  selector: 'adm-role-list',
  imports: [MatTableModule, MatButtonModule, MatProgressBarModule, MatTooltipModule, Icon, Notice, Pager],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head">
      <h1>Roles</h1>
      @if (canManage()) {
        <button mat-flat-button (click)="open(null)" data-testid="role-create"><adm-icon name="add" /> New role</button>
      }
    </header>
    @if (list.loading()) {
      <mat-progress-bar mode="indeterminate" />
    }
    @if (list.error() || list.empty()) {
      <adm-notice [error]="list.error()" (retry)="list.reload()">No roles yet.</adm-notice>
    } @else {
      <div class="table-wrap">
        <table mat-table [dataSource]="list.items()" data-testid="role-table">
          <ng-container matColumnDef="name">
            <th mat-header-cell *matHeaderCellDef>Name</th>
            <td mat-cell *matCellDef="let r">{{ r.name }} @if (r.builtIn) { <span class="state-chip">built-in</span> }</td>
          </ng-container>
          <ng-container matColumnDef="permissions">
            <th mat-header-cell *matHeaderCellDef>Permissions</th>
            <td mat-cell *matCellDef="let r" class="perms">{{ r.permissions.join(', ') || '—' }}</td>
          </ng-container>
          <ng-container matColumnDef="actions">
            <th mat-header-cell *matHeaderCellDef></th>
            <td mat-cell *matCellDef="let r" class="actions">
              <button mat-icon-button (click)="open(r)" [matTooltip]="canManage() ? 'Edit' : 'View'" aria-label="Edit" data-testid="role-edit"><adm-icon name="edit" /></button>
              @if (canManage() && !r.builtIn) {
                <button mat-icon-button class="danger" (click)="remove(r)" matTooltip="Delete" aria-label="Delete" data-testid="role-delete"><adm-icon name="delete" /></button>
              }
            </td>
          </ng-container>
          <tr mat-header-row *matHeaderRowDef="columns"></tr>
          <tr mat-row *matRowDef="let r; columns: columns" data-testid="role-row" [attr.data-role-name]="r.name"></tr>
        </table>
      </div>
      <adm-pager [list]="list" />
    }
  `,
  styles: `.perms { font-size: 12px; max-width: 640px; } .actions { text-align: right; white-space: nowrap; }`,
})
export class RoleList {
  private readonly api = inject(RolesApi);
  private readonly auth = inject(Auth);
  private readonly dialog = inject(MatDialog);
  private readonly snack = inject(MatSnackBar);
  protected readonly list = this.api.list();
  protected readonly canManage = computed(() => this.auth.can('roles.manage'));
  protected readonly columns = ['name', 'permissions', 'actions'];

  constructor() {
    inject(DestroyRef).onDestroy(() => this.list.destroy());
    this.list.first();
  }

  protected async open(role: Role | null): Promise<void> {
    let catalog;
    try {
      catalog = await this.api.permissions();
    } catch (e) {
      return this.fail(e);
    }
    const data: RoleDialogData = { role, catalog, readOnly: !this.canManage() };
    const ref = this.dialog.open<RoleDialog, RoleDialogData, Role | true>(RoleDialog, { data, width: '760px', maxWidth: '95vw' });
    if (!(await firstValueFrom(ref.afterClosed()))) return;
    this.snack.open(role ? 'Role saved' : 'Role created', undefined, { duration: 3000 });
    this.list.reload();
    // The signed-in user's own permissions may have changed.
    void this.auth.reloadMe().catch(() => undefined);
  }

  protected async remove(role: Role): Promise<void> {
    if (!(await confirmAction(this.dialog, { title: `Delete role ${role.name}?`, message: 'Users lose the permissions it granted.', action: 'Delete' }))) return;
    try {
      await this.api.remove(role.id);
    } catch (e) {
      const err = toApiError(e);
      const holders = Number((err.details as { assignedUsers?: unknown } | undefined)?.assignedUsers ?? 0);
      if (err.status !== 409 || !holders) return this.fail(e);
      // Assigned: say to how many users, and offer to take it from them (the API's ?force).
      const anyway = await confirmAction(this.dialog, {
        title: `${role.name} is assigned to ${holders} user${holders === 1 ? '' : 's'}`,
        message: `Delete it anyway? ${holders === 1 ? 'That user loses' : 'Those users lose'} the role and the permissions it granted, and keep any other role they have.`,
        action: 'Delete anyway',
      });
      if (!anyway) return;
      try {
        await this.api.remove(role.id, true);
      } catch (again) {
        return this.fail(again);
      }
    }
    this.list.remove((r) => r.id === role.id);
    this.snack.open('Role deleted', undefined, { duration: 3000 });
  }

  private fail(e: unknown): void {
    const err = toApiError(e);
    this.snack.open(readableMessage(err), 'Dismiss', { duration: 6000 });
  }
}
