import { ChangeDetectionStrategy, Component, input, output } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { ApiError, readableMessage } from '../core/api-error';

/**
 * Empty and error states of a list or page. An error shows its message (ids and code in a tooltip) and a retry button,
 * except for an answer that the same request would get again (not found, forbidden, invalid…).
 */
@Component({
  selector: 'adm-notice',
  imports: [MatButtonModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  host: { '[class.error]': '!!error()', '[attr.data-kind]': 'error() ? "error" : "empty"', role: 'status' },
  template: `
    @if (error(); as e) {
      <!-- The API's own wording (with ids) and its code stay in the tooltip; the page shows the sentence (issue 14). -->
      <strong data-testid="error-message" [attr.data-code]="e.code" [title]="e.message + ' (' + e.code + ')'">{{ readable(e) }}</strong>
      @if (retryable() && !settled(e)) {
        <button mat-stroked-button (click)="retry.emit()">Try again</button>
      }
    } @else {
      <ng-content />
    }
  `,
  styles: `
    :host { display: flex; flex-direction: column; align-items: center; gap: 8px; padding: 32px 16px; text-align: center;
      color: var(--mat-sys-on-surface-variant); }
    :host(.error) { color: var(--mat-sys-error); }
  `,
})
export class Notice {
  readonly error = input<ApiError | null>(null);
  readonly retryable = input(true);
  readonly retry = output<void>();
  protected readonly readable = readableMessage;

  /** Whether asking again would get the same answer: a 4xx other than 408 and 429. */
  protected settled(e: ApiError): boolean {
    return e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 429;
  }
}
