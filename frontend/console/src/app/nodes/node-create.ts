import { ChangeDetectionStrategy, Component, computed, inject, signal } from '@angular/core';
import { DatePipe } from '@angular/common';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { RouterLink } from '@angular/router';
import { toApiError } from '../core/api-error';
import { CopyButton } from '../shared/copy-button';
import { applyServerErrors, errorText } from '../shared/form-errors';
import { Icon } from '../shared/icon';
import { Enrollment, FleetNode, NodesApi } from './nodes-api';

const SIZE = /^\d+(\.\d+)?\s*[KMGT]?i?B?$/i;

/** Registers a node and shows the one-time enrollment command for its agent. */
@Component({
  selector: 'adm-node-create',
  imports: [ReactiveFormsModule, MatCardModule, MatFormFieldModule, MatInputModule, MatButtonModule, MatProgressBarModule, RouterLink, DatePipe, CopyButton, Icon],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head">
      <a mat-icon-button routerLink="/nodes" aria-label="Back to nodes"><adm-icon name="back" /></a>
      <h1>Add a node</h1>
    </header>
    @if (created(); as node) {
      <mat-card appearance="outlined" data-testid="enrollment">
        <mat-card-header>
          <mat-card-title>{{ node.name }} is registered</mat-card-title>
          <mat-card-subtitle>Run this as root on the machine (Node.js 20 or newer): it installs the agent under /opt/encedeus-agent, enrolls it and starts it. The token is shown only now.</mat-card-subtitle>
        </mat-card-header>
        <mat-card-content>
          <div class="secret">
            <code class="spacer" data-testid="enrollment-command">{{ command() }}</code>
            <adm-copy-button [text]="command()" label="Copy command" />
          </div>
          <p class="hint">One use; the token expires {{ enrollment()?.expiresAt | date: 'medium' }}. Without systemd the installer prints how to run the agent; <code>--no-service</code> only installs.</p>
        </mat-card-content>
        <mat-card-actions align="end">
          <button mat-button (click)="another()">Add another</button>
          <a mat-flat-button [routerLink]="['/nodes', node.id]">Open node</a>
        </mat-card-actions>
      </mat-card>
    } @else {
      <mat-card appearance="outlined">
        @if (saving()) {
          <mat-progress-bar mode="indeterminate" />
        }
        <mat-card-content>
          <form [formGroup]="form" (ngSubmit)="save()" data-testid="node-form">
            @if (formError(); as e) {
              <p class="form-error" role="alert">{{ e }}</p>
            }
            <div class="form-grid">
              <mat-form-field>
                <mat-label>Name</mat-label>
                <input matInput formControlName="name" data-testid="node-name-input" />
                <mat-error>{{ errorText(form.controls.name) }}</mat-error>
              </mat-form-field>
              <mat-form-field>
                <mat-label>Memory for servers (MB)</mat-label>
                <input matInput type="number" formControlName="memory_mb" data-testid="node-memory-input" />
                <mat-error>{{ errorText(form.controls.memory_mb) }}</mat-error>
              </mat-form-field>
              <mat-form-field>
                <mat-label>CPU for servers (%)</mat-label>
                <input matInput type="number" formControlName="cpu_percent" data-testid="node-cpu-input" />
                <mat-hint>100 = one core</mat-hint>
                <mat-error>{{ errorText(form.controls.cpu_percent) }}</mat-error>
              </mat-form-field>
              <mat-form-field>
                <mat-label>Storage size</mat-label>
                <input matInput formControlName="storage_size" placeholder="20G" data-testid="node-storage-input" />
                <mat-hint>e.g. 512M, 20G, 1T</mat-hint>
                <mat-error>{{ errorText(form.controls.storage_size) }}</mat-error>
              </mat-form-field>
              <mat-form-field>
                <mat-label>Tags</mat-label>
                <input matInput formControlName="tags" placeholder="eu-west, ssd" data-testid="node-tags-input" />
                <mat-hint>Comma separated</mat-hint>
                <mat-error>{{ errorText(form.controls.tags) }}</mat-error>
              </mat-form-field>
            </div>
            <div class="form-actions">
              <a mat-button routerLink="/nodes">Cancel</a>
              <button mat-flat-button type="submit" [disabled]="saving()" data-testid="node-submit">Create node</button>
            </div>
          </form>
        </mat-card-content>
      </mat-card>
    }
  `,
})
export class NodeCreate {
  private readonly api = inject(NodesApi);
  private readonly fb = inject(NonNullableFormBuilder);
  protected readonly form = this.fb.group({
    // Same rule as the gateway (createNodeSchema): starts with a letter or digit, then letters, digits, space, _ . -
    name: ['', [Validators.required, Validators.maxLength(64), Validators.pattern(/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/)]],
    memory_mb: [4096, [Validators.required, Validators.min(64)]],
    cpu_percent: [400, [Validators.required, Validators.min(10)]],
    storage_size: ['20G', [Validators.required, Validators.pattern(SIZE)]],
    tags: [''],
  });
  protected readonly saving = signal(false);
  protected readonly formError = signal<string | null>(null);
  protected readonly created = signal<FleetNode | null>(null);
  protected readonly enrollment = signal<Enrollment | null>(null);
  protected readonly command = computed(() => {
    const e = this.enrollment();
    if (!e) return '';
    return e.command ?? `curl -fsSL ${location.origin}/agent/install.sh | sh -s -- --token ${e.token}`;
  });
  protected readonly errorText = errorText;

  protected async save(): Promise<void> {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      return;
    }
    const v = this.form.getRawValue();
    this.saving.set(true);
    this.formError.set(null);
    try {
      const tags = v.tags.split(',').map((t) => t.trim()).filter(Boolean);
      const { enrollment, ...node } = await this.api.create({ ...v, memory_mb: Number(v.memory_mb), cpu_percent: Number(v.cpu_percent), tags });
      this.enrollment.set(enrollment);
      this.created.set(node);
    } catch (e) {
      this.formError.set(applyServerErrors(this.form, toApiError(e)).join(' ') || null);
    } finally {
      this.saving.set(false);
    }
  }

  protected another(): void {
    this.created.set(null);
    this.enrollment.set(null);
    this.form.reset();
  }
}
