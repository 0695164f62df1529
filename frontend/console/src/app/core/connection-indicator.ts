import { ChangeDetectionStrategy, Component, computed, inject } from '@angular/core';
import { MatTooltipModule } from '@angular/material/tooltip';
import { Realtime } from './realtime';

const LABELS = { connected: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline' } as const;

/** Shows the state of the live channel; clicking it while disconnected retries at once. */
@Component({
  selector: 'adm-connection-indicator',
  imports: [MatTooltipModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <button type="button" class="indicator" [attr.data-state]="state()" data-testid="connection-state" [matTooltip]="tooltip()" (click)="retry()">
      <span class="dot"></span>{{ label() }}
    </button>
  `,
  styles: `
    .indicator { display: inline-flex; align-items: center; gap: 6px; border: 1px solid currentColor; border-radius: 999px;
      padding: 2px 10px; background: transparent; color: inherit; font: inherit; font-size: 12px; cursor: pointer; }
    .dot { width: 8px; height: 8px; border-radius: 50%; background: #9e9e9e; }
    [data-state='connected'] .dot { background: #2e7d32; }
    [data-state='connecting'] .dot, [data-state='reconnecting'] .dot { background: #f9a825; animation: pulse 1s infinite alternate; }
    [data-state='offline'] .dot { background: #c62828; }
    @keyframes pulse { to { opacity: .3; } }
  `,
})
export class ConnectionIndicator {
  private readonly realtime = inject(Realtime);
  protected readonly state = this.realtime.state;
  protected readonly label = computed(() => LABELS[this.state()]);
  protected readonly tooltip = computed(() => {
    const at = this.realtime.retryAt();
    if (this.state() === 'connected') return 'Live updates are flowing';
    return at ? `Next attempt in ${Math.max(0, Math.round((at - Date.now()) / 1000))} s; click to retry now` : 'Click to retry now';
  });

  protected retry(): void {
    this.realtime.retryNow();
  }
}
