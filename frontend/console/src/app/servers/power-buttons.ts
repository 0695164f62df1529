import { ChangeDetectionStrategy, Component, computed, inject, input, output, signal } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatProgressSpinnerModule } from '@angular/material/progress-spinner';
import { MatSnackBar } from '@angular/material/snack-bar';
import { MatTooltipModule } from '@angular/material/tooltip';
import { toApiError, readableMessage } from '../core/api-error';
import { Icon, IconName } from '../shared/icon';
import { ServerAccess } from './server-access';
import { PowerAction, Server, ServerState, ServersApi } from './servers-api';

interface PowerButton {
  action: PowerAction;
  label: string;
  icon: IconName;
  /** States in which the action makes sense. */
  from: ServerState[];
}

const BUTTONS: PowerButton[] = [
  { action: 'start', label: 'Start', icon: 'play', from: ['offline', 'crashed'] },
  { action: 'stop', label: 'Stop', icon: 'stop', from: ['running', 'starting'] },
  { action: 'restart', label: 'Restart', icon: 'restart', from: ['running', 'crashed', 'starting'] },
  { action: 'kill', label: 'Kill', icon: 'kill', from: ['running', 'starting', 'stopping'] },
];

/**
 * Start / stop / restart / kill for one server. The answer's state is emitted; later changes arrive by push.
 * Disabled when the contract rule says the user may not power this server (servers.power alone is not
 * enough on someone else's server), so a click never ends in a 403.
 */
@Component({
  selector: 'adm-power-buttons',
  imports: [MatButtonModule, MatTooltipModule, MatProgressSpinnerModule, Icon],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    @for (b of buttons(); track b.action) {
      <button mat-icon-button type="button" [class.danger]="b.action === 'kill'" [disabled]="b.disabled" (click)="send(b.action, $event)"
              [matTooltip]="b.tooltip" [attr.aria-label]="b.label" [attr.data-testid]="'power-' + b.action">
        @if (pending() === b.action) {
          <mat-spinner diameter="18" />
        } @else {
          <adm-icon [name]="b.icon" />
        }
      </button>
    }
  `,
  styles: `:host { display: inline-flex; gap: 2px; }`,
})
export class PowerButtons {
  private readonly api = inject(ServersApi);
  private readonly snack = inject(MatSnackBar);
  readonly serverId = input.required<string>();
  readonly state = input.required<ServerState>();
  /** The server's owner and sub-users: with contracts' canControlServer they decide whether the buttons work for this user. */
  readonly ownerId = input.required<string>();
  readonly subusers = input<Server['subusers']>([]);
  /** The server as the power call answered it (its state right after the action). */
  readonly changed = output<Server>();
  protected readonly pending = signal<PowerAction | null>(null);
  private readonly access = inject(ServerAccess);
  protected readonly allowed = computed(() => this.access.may({ owner_id: this.ownerId(), subusers: this.subusers() }, 'power'));
  protected readonly buttons = computed(() =>
    BUTTONS.map((b) => ({
      ...b,
      disabled: !this.allowed() || this.pending() !== null || !b.from.includes(this.state()),
      tooltip: this.allowed() ? b.label : `${b.label}: only the owner, a sub-user granted power, or someone with servers.manage`,
    })),
  );

  protected async send(action: PowerAction, event: Event): Promise<void> {
    event.stopPropagation();
    this.pending.set(action);
    try {
      const server = await this.api.power(this.serverId(), action);
      // Pushes carry later transitions; the answer already holds the state after the action.
      if (server && typeof server === 'object' && 'state' in server) this.changed.emit(server);
    } catch (e) {
      const err = toApiError(e);
      this.snack.open(`${action} failed: ${readableMessage(err)}`, 'Dismiss', { duration: 6000 });
    } finally {
      this.pending.set(null);
    }
  }
}
