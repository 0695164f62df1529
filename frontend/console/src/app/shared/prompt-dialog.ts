import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { AbstractControl, NonNullableFormBuilder, ReactiveFormsModule, ValidationErrors } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MAT_DIALOG_DATA, MatDialog, MatDialogModule, MatDialogRef } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { firstValueFrom } from 'rxjs';
import { errorText } from './form-errors';

/** What the one-field dialog asks. */
export interface FilePromptData {
  title: string;
  label: string;
  /** The field's starting text. @default '' */
  value?: string;
  /** Label of the confirming button. @default 'OK' */
  action?: string;
  hint?: string;
  /** Why the text is not acceptable, or null when it is. */
  problem?: (value: string) => string | null;
}

/** Asks for one line of text (a file name, a mode) and checks it before closing. */
@Component({
  selector: 'adm-file-prompt-dialog',
  imports: [ReactiveFormsModule, MatDialogModule, MatFormFieldModule, MatInputModule, MatButtonModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>{{ data.title }}</h2>
    <form [formGroup]="form" (ngSubmit)="submit()" data-testid="file-prompt-form">
      <mat-dialog-content>
        <mat-form-field class="full">
          <mat-label>{{ data.label }}</mat-label>
          <input matInput formControlName="value" autocomplete="off" spellcheck="false" class="mono" cdkFocusInitial data-testid="file-prompt-input" />
          @if (data.hint) {
            <mat-hint>{{ data.hint }}</mat-hint>
          }
          <mat-error data-testid="file-prompt-error">{{ errorText(field) }}</mat-error>
        </mat-form-field>
      </mat-dialog-content>
      <mat-dialog-actions align="end">
        <button mat-button type="button" mat-dialog-close data-testid="file-prompt-cancel">Cancel</button>
        <button mat-flat-button type="submit" data-testid="file-prompt-ok">{{ data.action ?? 'OK' }}</button>
      </mat-dialog-actions>
    </form>
  `,
  styles: `.full { width: 100%; min-width: 320px; }`,
})
export class FilePromptDialog {
  protected readonly data = inject<FilePromptData>(MAT_DIALOG_DATA);
  private readonly ref = inject<MatDialogRef<FilePromptDialog, string>>(MatDialogRef);
  // A form group, not a lone control: its directive turns the form's submit into ngSubmit (a bare <form> would reload the page).
  protected readonly form = inject(NonNullableFormBuilder).group({
    value: [this.data.value ?? '', (c: AbstractControl): ValidationErrors | null => {
      const problem = this.data.problem?.(String(c.value)) ?? (String(c.value).trim() ? null : 'Required');
      return problem ? { rule: problem } : null;
    }],
  });
  protected readonly field = this.form.controls.value;
  protected readonly errorText = errorText;

  protected submit(): void {
    if (this.field.invalid) {
      this.field.markAsTouched();
      return;
    }
    this.ref.close(this.field.value.trim());
  }
}

/** Opens the dialog; resolves the accepted text, or null when cancelled. */
export async function promptFor(dialog: MatDialog, data: FilePromptData): Promise<string | null> {
  const ref = dialog.open<FilePromptDialog, FilePromptData, string>(FilePromptDialog, { data, width: '440px' });
  return (await firstValueFrom(ref.afterClosed())) ?? null;
}
