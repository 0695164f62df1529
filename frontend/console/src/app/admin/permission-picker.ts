import { ChangeDetectionStrategy, Component, computed, input, model } from '@angular/core';
import { MatCheckboxModule } from '@angular/material/checkbox';
import { MatTooltipModule } from '@angular/material/tooltip';
import { PermissionInfo } from './roles-api';

interface Area {
  name: string;
  permissions: (PermissionInfo & { checked: boolean })[];
  all: boolean;
  some: boolean;
}

/** Checkboxes for permissions, grouped by area (the part before the dot), with a toggle per area. */
@Component({
  selector: 'adm-permission-picker',
  imports: [MatCheckboxModule, MatTooltipModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    @for (area of areas(); track area.name) {
      <fieldset class="area" [attr.data-testid]="'perm-area-' + area.name">
        <legend>
          <mat-checkbox [checked]="area.all" [indeterminate]="area.some" [disabled]="disabled()" (change)="toggleArea(area, $event.checked)">
            {{ area.name }}
          </mat-checkbox>
        </legend>
        @for (p of area.permissions; track p.name) {
          <mat-checkbox [checked]="p.checked" [disabled]="disabled()" (change)="toggle(p.name, $event.checked)" [matTooltip]="p.description"
                        [attr.data-testid]="'perm-' + p.name">
            <code>{{ p.name }}</code> <span class="hint">{{ p.description }}</span>
          </mat-checkbox>
        }
      </fieldset>
    } @empty {
      <p class="hint">No permissions are defined.</p>
    }
  `,
  styles: `
    :host { display: grid; gap: 8px; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); }
    .area { border: 1px solid var(--mat-sys-outline-variant); border-radius: 12px; padding: 4px 8px 8px; margin: 0; display: flex; flex-direction: column; }
    legend { font-weight: 600; text-transform: capitalize; }
    .hint { font-size: 12px; margin-left: 6px; }
  `,
})
export class PermissionPicker {
  readonly catalog = input.required<PermissionInfo[]>();
  readonly selected = model<string[]>([]);
  readonly disabled = input(false);

  protected readonly areas = computed<Area[]>(() => {
    const chosen = new Set(this.selected());
    const byArea = new Map<string, PermissionInfo[]>();
    for (const p of this.catalog()) {
      const area = p.name.split('.')[0];
      byArea.set(area, [...(byArea.get(area) ?? []), p]);
    }
    return [...byArea.entries()].map(([name, perms]) => {
      const permissions = perms.map((p) => ({ ...p, checked: chosen.has(p.name) }));
      const count = permissions.filter((p) => p.checked).length;
      return { name, permissions, all: count === permissions.length, some: count > 0 && count < permissions.length };
    });
  });

  protected toggle(name: string, checked: boolean): void {
    this.selected.update((s) => (checked ? [...new Set([...s, name])] : s.filter((x) => x !== name)));
  }

  protected toggleArea(area: Area, checked: boolean): void {
    const names = area.permissions.map((p) => p.name);
    this.selected.update((s) => (checked ? [...new Set([...s, ...names])] : s.filter((x) => !names.includes(x))));
  }
}
