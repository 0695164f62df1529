import { Clipboard } from '@angular/cdk/clipboard';
import { ChangeDetectionStrategy, Component, inject, input } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatSnackBar } from '@angular/material/snack-bar';
import { MatTooltipModule } from '@angular/material/tooltip';
import { Icon } from './icon';

/** Copies `text` to the clipboard (CDK falls back to a hidden textarea outside secure contexts). */
@Component({
  selector: 'adm-copy-button',
  imports: [MatButtonModule, MatTooltipModule, Icon],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <button mat-icon-button type="button" (click)="copy()" [matTooltip]="label()" [attr.aria-label]="label()" data-testid="copy">
      <adm-icon name="copy" />
    </button>
  `,
})
export class CopyButton {
  private readonly clipboard = inject(Clipboard);
  private readonly snack = inject(MatSnackBar);
  readonly text = input.required<string>();
  readonly label = input('Copy');

  protected copy(): void {
    const ok = this.clipboard.copy(this.text());
    this.snack.open(ok ? 'Copied to the clipboard' : 'Copy failed: select the text and copy it by hand', undefined, { duration: 2500 });
  }
}
