import { ChangeDetectionStrategy, Component, DestroyRef, computed, inject } from '@angular/core';
import { DatePipe } from '@angular/common';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatDialog } from '@angular/material/dialog';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSnackBar } from '@angular/material/snack-bar';
import { MatTableModule } from '@angular/material/table';
import { MatTooltipModule } from '@angular/material/tooltip';
import { firstValueFrom } from 'rxjs';
import { toApiError, readableMessage } from '../core/api-error';
import { confirmAction } from '../shared/confirm';
import { NamesPipe } from '../shared/format';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { Pager } from '../shared/pager';
import { ApiKeyDialog, ApiKeyDialogData } from './api-key-dialog';
import { ApiKey, ApiKeysApi, IssuedKey, ServiceAccount } from './api-keys-api';
import { RolesApi } from './roles-api';
import { ServiceAccountDialog } from './service-account-dialog';

/** Service accounts and API keys: create, issue (secret shown once), revoke. */
@Component({
  selector: 'adm-api-keys',
  imports: [MatCardModule, MatTableModule, MatButtonModule, MatProgressBarModule, MatTooltipModule, DatePipe, NamesPipe, Icon, Notice, Pager],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head"><h1>API keys &amp; service accounts</h1></header>
    <section class="section">
      <div class="toolbar-row">
        <h2 class="spacer">Service accounts</h2>
        <button mat-stroked-button (click)="createAccount()" data-testid="service-account-create"><adm-icon name="add" /> New service account</button>
      </div>
      @if (accounts.loading()) {
        <mat-progress-bar mode="indeterminate" />
      }
      @if (accounts.error() || accounts.empty()) {
        <adm-notice [error]="accounts.error()" (retry)="accounts.reload()">No service accounts. Create one for CI or integrations.</adm-notice>
      } @else {
        <div class="table-wrap">
          <table mat-table [dataSource]="accounts.items()" data-testid="service-account-table">
            <ng-container matColumnDef="name">
              <th mat-header-cell *matHeaderCellDef>Name</th>
              <td mat-cell *matCellDef="let a">{{ a.name }}</td>
            </ng-container>
            <ng-container matColumnDef="roles">
              <th mat-header-cell *matHeaderCellDef>Roles</th>
              <td mat-cell *matCellDef="let a">{{ a.roles | names }}</td>
            </ng-container>
            <ng-container matColumnDef="created">
              <th mat-header-cell *matHeaderCellDef>Created</th>
              <td mat-cell *matCellDef="let a">{{ a.createdAt | date: 'mediumDate' }}</td>
            </ng-container>
            <ng-container matColumnDef="actions">
              <th mat-header-cell *matHeaderCellDef></th>
              <td mat-cell *matCellDef="let a" class="actions">
                <button mat-icon-button class="danger" (click)="removeAccount(a)" matTooltip="Delete" aria-label="Delete" data-testid="service-account-delete"><adm-icon name="delete" /></button>
              </td>
            </ng-container>
            <tr mat-header-row *matHeaderRowDef="accountColumns"></tr>
            <tr mat-row *matRowDef="let a; columns: accountColumns" data-testid="service-account-row"></tr>
          </table>
        </div>
        <adm-pager [list]="accounts" />
      }
    </section>
    <section class="section">
      <div class="toolbar-row">
        <h2 class="spacer">API keys</h2>
        <button mat-flat-button (click)="issue()" data-testid="api-key-create"><adm-icon name="key" /> New API key</button>
      </div>
      @if (keys.loading()) {
        <mat-progress-bar mode="indeterminate" />
      }
      @if (keys.error() || keys.empty()) {
        <adm-notice [error]="keys.error()" (retry)="keys.reload()">No API keys.</adm-notice>
      } @else {
        <div class="table-wrap">
          <table mat-table [dataSource]="keys.items()" data-testid="api-key-table">
            <ng-container matColumnDef="name">
              <th mat-header-cell *matHeaderCellDef>Name</th>
              <td mat-cell *matCellDef="let k">{{ k.name }}</td>
            </ng-container>
            <ng-container matColumnDef="prefix">
              <th mat-header-cell *matHeaderCellDef>Key</th>
              <td mat-cell *matCellDef="let k"><code>{{ k.prefix }}…</code></td>
            </ng-container>
            <ng-container matColumnDef="account">
              <th mat-header-cell *matHeaderCellDef>Service account</th>
              <td mat-cell *matCellDef="let k">{{ accountNames().get(k.serviceAccountId) ?? k.serviceAccountId ?? '—' }}</td>
            </ng-container>
            <ng-container matColumnDef="permissions">
              <th mat-header-cell *matHeaderCellDef>Permissions</th>
              <td mat-cell *matCellDef="let k" class="perms">{{ k.permissions.join(', ') || '—' }}</td>
            </ng-container>
            <ng-container matColumnDef="expires">
              <th mat-header-cell *matHeaderCellDef>Expires</th>
              <td mat-cell *matCellDef="let k">
                @if (k.revokedAt) {
                  <span class="revoked" data-testid="api-key-revoked">revoked {{ k.revokedAt | date: 'mediumDate' }}</span>
                } @else {
                  {{ k.expiresAt ? (k.expiresAt | date: 'mediumDate') : 'never' }}
                }
              </td>
            </ng-container>
            <ng-container matColumnDef="actions">
              <th mat-header-cell *matHeaderCellDef></th>
              <td mat-cell *matCellDef="let k" class="actions">
                @if (!k.revokedAt) {
                  <button mat-icon-button class="danger" (click)="revoke(k)" matTooltip="Revoke" aria-label="Revoke" data-testid="api-key-revoke"><adm-icon name="delete" /></button>
                }
              </td>
            </ng-container>
            <tr mat-header-row *matHeaderRowDef="keyColumns"></tr>
            <tr mat-row *matRowDef="let k; columns: keyColumns" data-testid="api-key-row" [attr.data-key-prefix]="k.prefix"></tr>
          </table>
        </div>
        <adm-pager [list]="keys" />
      }
    </section>
  `,
  styles: `h2 { font: var(--mat-sys-title-medium); margin: 0; } .revoked { color: var(--mat-sys-error); } .perms { font-size: 12px; max-width: 420px; } .actions { text-align: right; }`,
})
export class ApiKeys {
  private readonly api = inject(ApiKeysApi);
  private readonly roles = inject(RolesApi);
  private readonly dialog = inject(MatDialog);
  private readonly snack = inject(MatSnackBar);
  protected readonly accounts = this.api.accounts();
  protected readonly keys = this.api.keys();
  protected readonly accountNames = computed(() => new Map(this.accounts.items().map((a) => [a.id, a.name])));
  protected readonly accountColumns = ['name', 'roles', 'created', 'actions'];
  protected readonly keyColumns = ['name', 'prefix', 'account', 'permissions', 'expires', 'actions'];

  constructor() {
    inject(DestroyRef).onDestroy(() => {
      this.accounts.destroy();
      this.keys.destroy();
    });
    this.accounts.first();
    this.keys.first();
  }

  protected async createAccount(): Promise<void> {
    const roles = await this.roles.all().catch((e: unknown) => this.fail(e));
    if (!roles) return;
    const ref = this.dialog.open(ServiceAccountDialog, { data: roles, width: '480px' });
    if (!(await firstValueFrom(ref.afterClosed()))) return;
    this.snack.open('Service account created', undefined, { duration: 3000 });
    this.accounts.first();
  }

  protected async removeAccount(account: ServiceAccount): Promise<void> {
    const ok = await confirmAction(this.dialog, { title: `Delete ${account.name}?`, message: 'Its API keys stop working at once.', action: 'Delete' });
    if (!ok) return;
    try {
      await this.api.removeAccount(account.id);
      this.accounts.remove((a) => a.id === account.id);
      this.keys.reload();
    } catch (e) {
      this.fail(e);
    }
  }

  protected async issue(): Promise<void> {
    const [catalog, accounts] = await Promise.all([this.roles.permissions(), this.api.allAccounts()]).catch((e: unknown) => {
      this.fail(e);
      return [null, null];
    });
    if (!catalog || !accounts) return;
    const data: ApiKeyDialogData = { catalog, accounts };
    const ref = this.dialog.open<ApiKeyDialog, ApiKeyDialogData, IssuedKey>(ApiKeyDialog, { data, width: '760px', maxWidth: '95vw' });
    if (await firstValueFrom(ref.afterClosed())) this.keys.first();
  }

  protected async revoke(key: ApiKey): Promise<void> {
    const ok = await confirmAction(this.dialog, { title: `Revoke ${key.name}?`, message: 'Anything using this key loses access at once.', action: 'Revoke' });
    if (!ok) return;
    try {
      await this.api.revoke(key.id);
      // The gateway keeps listing revoked keys (with revokedAt), so mark it instead of dropping it.
      this.keys.patch((k) => k.id === key.id, (k) => ({ ...k, revokedAt: new Date().toISOString() }));
      this.snack.open('Key revoked', undefined, { duration: 3000 });
    } catch (e) {
      this.fail(e);
    }
  }

  private fail(e: unknown): null {
    const err = toApiError(e);
    this.snack.open(readableMessage(err), 'Dismiss', { duration: 6000 });
    return null;
  }
}
