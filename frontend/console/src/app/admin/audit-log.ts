import { ChangeDetectionStrategy, Component, DestroyRef, inject, signal } from '@angular/core';
import { DatePipe } from '@angular/common';
import { MatButtonModule } from '@angular/material/button';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatTableModule } from '@angular/material/table';
import { toApiError } from '../core/api-error';
import { saveBlob } from '../shared/download';
import { ActorPipe } from '../shared/format';
import { Notice } from '../shared/notice';
import { Pager } from '../shared/pager';
import { subjectLabel } from '../shared/events-api';
import { AuditApi, AuditFilter, AuditRow } from './audit-api';

/** Who did what to which aggregate, newest first. */
@Component({
  selector: 'adm-audit-log',
  imports: [MatTableModule, MatFormFieldModule, MatInputModule, MatButtonModule, MatProgressBarModule, DatePipe, ActorPipe, Notice, Pager],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head"><h1>Audit log</h1></header>
    <form class="toolbar-row" (submit)="apply($event, actor.value, action.value, subject.value, from.value, to.value)" data-testid="audit-filters">
      <mat-form-field>
        <mat-label>Actor</mat-label>
        <input matInput #actor [value]="filter().actor" data-testid="audit-actor" />
      </mat-form-field>
      <mat-form-field>
        <mat-label>Action</mat-label>
        <input matInput #action [value]="filter().action" placeholder="server.running" data-testid="audit-action" />
      </mat-form-field>
      <mat-form-field>
        <mat-label>Subject</mat-label>
        <input matInput #subject [value]="filter().subject" placeholder="server/…" data-testid="audit-subject" />
      </mat-form-field>
      <mat-form-field>
        <mat-label>From</mat-label>
        <input matInput #from type="datetime-local" [value]="filter().from ?? ''" data-testid="audit-from" />
      </mat-form-field>
      <mat-form-field>
        <mat-label>To</mat-label>
        <input matInput #to type="datetime-local" [value]="filter().to ?? ''" data-testid="audit-to" />
      </mat-form-field>
      <button mat-stroked-button type="submit" data-testid="audit-apply">Filter</button>
      <button mat-button type="button" (click)="exportCsv()" [disabled]="exporting()" data-testid="audit-export">Export CSV</button>
    </form>
    @if (exportError(); as e) { <p class="form-error" role="alert">{{ e }}</p> }
    @if (list.loading()) {
      <mat-progress-bar mode="indeterminate" />
    }
    @if (list.error() || list.empty()) {
      <adm-notice [error]="list.error()" (retry)="list.reload()">No audit entries match.</adm-notice>
    } @else {
      <div class="table-wrap">
        <table mat-table [dataSource]="list.items()" data-testid="audit-table">
          <ng-container matColumnDef="sequence">
            <th mat-header-cell *matHeaderCellDef>#</th>
            <td mat-cell *matCellDef="let r">{{ r.sequence }}</td>
          </ng-container>
          <ng-container matColumnDef="time">
            <th mat-header-cell *matHeaderCellDef>Time</th>
            <td mat-cell *matCellDef="let r">{{ r.time | date: 'medium' }}</td>
          </ng-container>
          <ng-container matColumnDef="actor">
            <th mat-header-cell *matHeaderCellDef>Actor</th>
            <td mat-cell *matCellDef="let r" [title]="r.actor">{{ r.actorName ?? (r.actor | actor) }}</td>
          </ng-container>
          <ng-container matColumnDef="action">
            <th mat-header-cell *matHeaderCellDef>Action</th>
            <td mat-cell *matCellDef="let r"><code>{{ r.action }}</code></td>
          </ng-container>
          <ng-container matColumnDef="subject">
            <th mat-header-cell *matHeaderCellDef>Subject</th>
            <td mat-cell *matCellDef="let r" [title]="r.subject" data-testid="audit-subject-cell">{{ label(r) }}</td>
          </ng-container>
          <ng-container matColumnDef="source">
            <th mat-header-cell *matHeaderCellDef>From</th>
            <td mat-cell *matCellDef="let r" [title]="r.userAgent ?? ''" data-testid="audit-source">{{ r.ip ? r.ip.replace('::ffff:', '') : '—' }}</td>
          </ng-container>
          <tr mat-header-row *matHeaderRowDef="columns"></tr>
          <tr mat-row *matRowDef="let r; columns: columns" data-testid="audit-row"></tr>
        </table>
      </div>
      <adm-pager [list]="list" />
    }
  `,
})
export class AuditLog {
  private readonly api = inject(AuditApi);
  protected readonly filter = signal<AuditFilter>({ actor: '', action: '', subject: '', from: '', to: '' });
  protected readonly exporting = signal(false);
  protected readonly exportError = signal<string | null>(null);
  protected readonly list = this.api.list(() => this.filter());
  protected readonly columns = ['sequence', 'time', 'actor', 'action', 'subject', 'source'];

  constructor() {
    inject(DestroyRef).onDestroy(() => this.list.destroy());
    this.list.first();
  }

  /** `server e2e-echo` where the gateway named the subject (servers, nodes, templates, users, roles the caller sees), else the raw id. */
  protected label(r: AuditRow): string {
    return subjectLabel(r.subject, r.subjectName);
  }

  protected apply(event: Event, actor: string, action: string, subject: string, from = '', to = ''): void {
    event.preventDefault();
    this.filter.set({ actor: actor.trim(), action: action.trim(), subject: subject.trim(), from, to });
    this.list.first();
  }

  /** The filtered entries as a CSV file (at most 100,000 rows; narrow the dates for more). */
  protected async exportCsv(): Promise<void> {
    this.exporting.set(true);
    this.exportError.set(null);
    try {
      saveBlob('audit.csv', await this.api.exportCsv(this.filter()));
    } catch (e) {
      this.exportError.set(toApiError(e).message);
    } finally {
      this.exporting.set(false);
    }
  }
}
