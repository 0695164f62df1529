import { ChangeDetectionStrategy, Component, DestroyRef, computed, inject, signal } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatDialog } from '@angular/material/dialog';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatTableModule } from '@angular/material/table';
import { Router, RouterLink } from '@angular/router';
import { ApiError, toApiError } from '../core/api-error';
import { Auth } from '../core/auth';
import { confirmAction } from '../shared/confirm';
import { saveJson } from '../shared/download';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { Pager } from '../shared/pager';
import { TemplateRecord, TemplatesAdminApi, templateBody } from './templates-admin-api';

/** The templates servers are made from: list, export, delete; create, import and edit on the editor page. */
@Component({
  selector: 'adm-template-list',
  imports: [MatTableModule, MatButtonModule, MatProgressBarModule, RouterLink, Icon, Notice, Pager],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head">
      <h1>Templates</h1>
      @if (canManage()) {
        <a mat-stroked-button routerLink="new" data-testid="template-import"><adm-icon name="upload" /> Import JSON</a>
        <a mat-flat-button routerLink="new" data-testid="template-create"><adm-icon name="add" /> New template</a>
      }
    </header>
    @if (actionError(); as e) {
      <p class="form-error" role="alert" data-testid="template-action-error">{{ e.message }}</p>
    }
    @if (list.loading()) {
      <mat-progress-bar mode="indeterminate" />
    }
    @if (list.error() || list.empty()) {
      <adm-notice [error]="list.error()" (retry)="list.reload()">No templates yet.</adm-notice>
    } @else {
      <div class="table-wrap">
        <table mat-table [dataSource]="list.items()" data-testid="template-table">
          <ng-container matColumnDef="name">
            <th mat-header-cell *matHeaderCellDef>Name</th>
            <td mat-cell *matCellDef="let t"><a [routerLink]="t.id" data-testid="template-name">{{ t.name }}</a>
              @if (t.builtIn) { <span class="muted"> · built in</span> }</td>
          </ng-container>
          <ng-container matColumnDef="driver">
            <th mat-header-cell *matHeaderCellDef>Driver</th>
            <td mat-cell *matCellDef="let t">{{ t.driver }}{{ t.image ? ' · ' + t.image : '' }}</td>
          </ng-container>
          <ng-container matColumnDef="limits">
            <th mat-header-cell *matHeaderCellDef>Default limits</th>
            <td mat-cell *matCellDef="let t">{{ t.limits.memory_mb }} MB · {{ t.limits.cpu_percent }} % · {{ t.limits.disk_mb }} MB disk</td>
          </ng-container>
          <ng-container matColumnDef="variables">
            <th mat-header-cell *matHeaderCellDef>Variables</th>
            <td mat-cell *matCellDef="let t">{{ t.variables.length }}</td>
          </ng-container>
          <ng-container matColumnDef="actions">
            <th mat-header-cell *matHeaderCellDef></th>
            <td mat-cell *matCellDef="let t" class="actions">
              <button mat-button type="button" (click)="export(t); $event.stopPropagation()" data-testid="template-export">Export</button>
              @if (canManage() && !t.builtIn) {
                <button mat-button type="button" class="danger" (click)="remove(t); $event.stopPropagation()" data-testid="template-delete">Delete</button>
              }
            </td>
          </ng-container>
          <tr mat-header-row *matHeaderRowDef="columns"></tr>
          <tr mat-row *matRowDef="let t; columns: columns" class="clickable" data-testid="template-row" [attr.data-template-id]="t.id" [attr.data-template-name]="t.name" (click)="open(t)"></tr>
        </table>
      </div>
      <adm-pager [list]="list" />
    }
  `,
  styles: `.actions { text-align: right; white-space: nowrap; } .page-head a + a { margin-left: 8px; }`,
})
export class TemplateList {
  private readonly api = inject(TemplatesAdminApi);
  private readonly auth = inject(Auth);
  private readonly router = inject(Router);
  private readonly dialog = inject(MatDialog);
  protected readonly list = this.api.list();
  protected readonly columns = ['name', 'driver', 'limits', 'variables', 'actions'];
  protected readonly canManage = computed(() => this.auth.can('templates.manage'));
  protected readonly actionError = signal<ApiError | null>(null);

  constructor() {
    inject(DestroyRef).onDestroy(() => this.list.destroy());
    this.list.first();
  }

  protected open(t: TemplateRecord): void {
    void this.router.navigate(['/templates', t.id]);
  }

  protected export(t: TemplateRecord): void {
    saveJson(`${t.name.replace(/[^\w.-]+/g, '_') || 'template'}.json`, templateBody(t));
  }

  protected async remove(t: TemplateRecord): Promise<void> {
    this.actionError.set(null);
    if (!(await confirmAction(this.dialog, { title: `Delete ${t.name}?`, message: 'Servers made from it keep running; no new ones can be made from it.', action: 'Delete' }))) return;
    try {
      await this.api.remove(t.id, t.version);
      this.list.remove((x) => x.id === t.id);
    } catch (e) {
      this.actionError.set(toApiError(e));
    }
  }
}
