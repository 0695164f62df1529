import { ChangeDetectionStrategy, Component, DestroyRef, inject, signal } from '@angular/core';
import { DatePipe } from '@angular/common';
import { MatCardModule } from '@angular/material/card';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSelectModule } from '@angular/material/select';
import { MatTableModule } from '@angular/material/table';
import { Router, RouterLink } from '@angular/router';
import { Notice } from '../shared/notice';
import { Pager } from '../shared/pager';
import { StateChip } from '../shared/state-chip';
import { FINISHED, JobStatus, JobSummary, JobsApi } from './jobs-api';

const STATUSES: JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'timeout', 'killed', 'cancelled'];
/** While a listed job runs, the list is fetched again this often. */
const REFRESH_MS = 2000;

/** Job history, newest first: a job survives a reload here, and each opens its own page. */
@Component({
  selector: 'adm-job-history',
  imports: [MatCardModule, MatFormFieldModule, MatSelectModule, MatTableModule, MatProgressBarModule, RouterLink, DatePipe, Notice, Pager, StateChip],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <mat-card appearance="outlined" class="section" data-testid="job-history">
      <mat-card-header>
        <mat-card-title>History</mat-card-title>
        <span class="spacer"></span>
        <mat-form-field class="small" subscriptSizing="dynamic">
          <mat-label>Status</mat-label>
          <mat-select [value]="status()" (valueChange)="filter($event)" data-testid="job-history-status">
            <mat-option value="">Any</mat-option>
            @for (s of statuses; track s) {
              <mat-option [value]="s">{{ s }}</mat-option>
            }
          </mat-select>
        </mat-form-field>
      </mat-card-header>
      @if (list.loading()) {
        <mat-progress-bar mode="indeterminate" />
      }
      <mat-card-content>
        @if (list.error() || list.empty()) {
          <adm-notice [error]="list.error()" (retry)="list.reload()">No jobs yet.</adm-notice>
        } @else {
          <table mat-table [dataSource]="list.items()" data-testid="job-history-table">
            <ng-container matColumnDef="created">
              <th mat-header-cell *matHeaderCellDef>Started</th>
              <td mat-cell *matCellDef="let j"><a [routerLink]="['/jobs', j.id]" data-testid="job-history-link">{{ j.createdAt | date: 'medium' }}</a></td>
            </ng-container>
            <ng-container matColumnDef="runtime">
              <th mat-header-cell *matHeaderCellDef>Runtime</th>
              <td mat-cell *matCellDef="let j">{{ j.runtime }}</td>
            </ng-container>
            <ng-container matColumnDef="status">
              <th mat-header-cell *matHeaderCellDef>Status</th>
              <td mat-cell *matCellDef="let j"><adm-state-chip [state]="j.status" data-testid="job-history-state" /></td>
            </ng-container>
            <ng-container matColumnDef="exit">
              <th mat-header-cell *matHeaderCellDef>Exit code</th>
              <td mat-cell *matCellDef="let j">{{ j.exit_code ?? '—' }}</td>
            </ng-container>
            <ng-container matColumnDef="time">
              <th mat-header-cell *matHeaderCellDef>Time</th>
              <td mat-cell *matCellDef="let j">{{ j.execution_time_ms === null ? '—' : j.execution_time_ms + ' ms' }}</td>
            </ng-container>
            <tr mat-header-row *matHeaderRowDef="columns"></tr>
            <tr mat-row *matRowDef="let j; columns: columns" class="clickable" data-testid="job-history-row" [attr.data-job-id]="j.id" (click)="open(j)"></tr>
          </table>
          <adm-pager [list]="list" />
        }
      </mat-card-content>
    </mat-card>
  `,
  styles: `.small { width: 160px; }`,
})
export class JobHistory {
  private readonly api = inject(JobsApi);
  private readonly router = inject(Router);
  protected readonly statuses = STATUSES;
  protected readonly status = signal<JobStatus | ''>('');
  protected readonly list = this.api.history(() => this.status());
  protected readonly columns = ['created', 'runtime', 'status', 'exit', 'time'];
  private readonly refresh = setInterval(() => {
    if (this.list.items().some((j) => !FINISHED.includes(j.status))) this.list.reload();
  }, REFRESH_MS);

  constructor() {
    inject(DestroyRef).onDestroy(() => {
      clearInterval(this.refresh);
      this.list.destroy();
    });
    this.list.first();
  }

  /** The runner finished a job: show it at the top. */
  reload(): void {
    this.list.first();
  }

  protected filter(status: JobStatus | ''): void {
    this.status.set(status);
    this.list.first();
  }

  protected open(job: JobSummary): void {
    void this.router.navigate(['/jobs', job.id]);
  }
}
