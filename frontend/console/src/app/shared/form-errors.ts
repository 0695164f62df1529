import { AbstractControl, ValidationErrors } from '@angular/forms';
import { ApiError } from '../core/api-error';

function controlFor(form: AbstractControl, path: string): AbstractControl | null {
  const clean = path.replace(/^(body|params|query)\./, '').replace(/\[(\w+)\]/g, '.$1').replace(/\//g, '.');
  return form.get(clean) ?? form.get(clean.split('.').slice(-1)[0]);
}

/**
 * Puts a 422's field errors on the controls named by their `path` (shown by `errorText` next to
 * the field). Returns the messages no control could take, to show above the form.
 */
export function applyServerErrors(form: AbstractControl, error: ApiError): string[] {
  const unmatched: string[] = [];
  for (const field of error.fields) {
    const control = field.path ? controlFor(form, field.path) : null;
    if (!control || control === form) {
      unmatched.push(field.path ? `${field.path}: ${field.message}` : field.message);
      continue;
    }
    control.setErrors({ ...(control.errors ?? {}), server: field.message });
    control.markAsTouched();
  }
  if (error.fields.length === 0) unmatched.push(error.message);
  return unmatched;
}

/** One human sentence for the first error on a control. */
export function errorText(control: AbstractControl | null | undefined): string {
  const errors: ValidationErrors | null | undefined = control?.errors;
  if (!errors) return '';
  if (errors['server']) return String(errors['server']);
  if (errors['rule']) return String(errors['rule']);
  if (errors['required']) return 'Required';
  if (errors['email']) return 'Not a valid email address';
  if (errors['minlength']) return `At least ${errors['minlength'].requiredLength} characters`;
  if (errors['maxlength']) return `At most ${errors['maxlength'].requiredLength} characters`;
  if (errors['min']) return `At least ${errors['min'].min}`;
  if (errors['max']) return `At most ${errors['max'].max}`;
  if (errors['pattern']) return 'Wrong format';
  return 'Invalid value';
}
