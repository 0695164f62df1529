import { ChangeDetectionStrategy, ChangeDetectorRef, Component, effect, inject, input } from '@angular/core';
import { FormControl, FormGroup, ReactiveFormsModule } from '@angular/forms';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatSelectModule } from '@angular/material/select';
import { errorText } from '../shared/form-errors';
import { TemplateVariable } from './templates-api';
import { isRequired, parseRules, variableValidator } from './variable-rules';

/** View model of one template variable's input. */
export interface VariableField {
  name: string;
  description: string;
  required: boolean;
  /** Choices when the rules contain `in:`; a select is shown instead of a text field. */
  options: string[] | null;
}

/** The form group of a template's variables, with client-side rule checks, seeded with `values` or the defaults. */
export function variablesGroup(variables: TemplateVariable[], values: Record<string, unknown> = {}): FormGroup<Record<string, FormControl<string>>> {
  const controls: Record<string, FormControl<string>> = {};
  for (const v of variables) {
    const initial = values[v.name] ?? v.default ?? '';
    controls[v.name] = new FormControl(String(initial), { nonNullable: true, validators: variableValidator(v.rules) });
  }
  return new FormGroup(controls);
}

export function variableFields(variables: TemplateVariable[]): VariableField[] {
  return variables.map((v) => ({
    name: v.name,
    description: v.description ?? '',
    required: isRequired(v.rules),
    options: parseRules(v.rules).find((r) => r.name === 'in')?.args ?? null,
  }));
}

/** Inputs for a template's variables; errors come from the rules and from a server 422. */
@Component({
  selector: 'adm-variable-fields',
  imports: [ReactiveFormsModule, MatFormFieldModule, MatInputModule, MatSelectModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <div [formGroup]="group()" class="form-grid">
      @for (f of fields(); track f.name) {
        <mat-form-field>
          <mat-label>{{ f.name }}</mat-label>
          @if (f.options) {
            <mat-select [formControlName]="f.name" [attr.data-testid]="'var-' + f.name">
              @for (o of f.options; track o) {
                <mat-option [value]="o">{{ o }}</mat-option>
              }
            </mat-select>
          } @else {
            <input matInput [formControlName]="f.name" [required]="f.required" [attr.data-testid]="'var-' + f.name" />
          }
          <mat-hint>{{ f.description }}</mat-hint>
          <mat-error [attr.data-testid]="'var-error-' + f.name">{{ errorText(group().get(f.name)) }}</mat-error>
        </mat-form-field>
      } @empty {
        <p class="hint">This template has no variables.</p>
      }
    </div>
  `,
})
export class VariableFields {
  readonly group = input.required<FormGroup>();
  readonly fields = input.required<VariableField[]>();
  protected readonly errorText = errorText;

  constructor() {
    const cdr = inject(ChangeDetectorRef);
    // Server-side errors land on the controls from the parent; this view is OnPush, so listen for them.
    effect((onCleanup) => {
      const sub = this.group().events.subscribe(() => cdr.markForCheck());
      onCleanup(() => sub.unsubscribe());
    });
  }
}
