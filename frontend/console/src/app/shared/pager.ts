import { ChangeDetectionStrategy, Component, input } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatSelectModule } from '@angular/material/select';
import { MatTooltipModule } from '@angular/material/tooltip';
import { Icon } from './icon';
import { PagedList } from './paged-list';

/** Previous / next controls and page size for a cursor-paginated list. */
@Component({
  selector: 'adm-pager',
  imports: [MatButtonModule, MatFormFieldModule, MatSelectModule, MatTooltipModule, Icon],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <span class="page">Page {{ list().pageNumber() }}</span>
    <mat-form-field appearance="outline" subscriptSizing="dynamic" class="size">
      <mat-select [value]="list().limit()" (valueChange)="list().setLimit($event)" aria-label="Rows per page" data-testid="page-size">
        @for (n of sizes; track n) {
          <mat-option [value]="n">{{ n }} / page</mat-option>
        }
      </mat-select>
    </mat-form-field>
    <button mat-icon-button [disabled]="!list().hasPrev()" (click)="list().prev()" matTooltip="Previous page" aria-label="Previous page" data-testid="page-prev">
      <adm-icon name="prev" />
    </button>
    <button mat-icon-button [disabled]="!list().hasNext()" (click)="list().next()" matTooltip="Next page" aria-label="Next page" data-testid="page-next">
      <adm-icon name="next" />
    </button>
  `,
  styles: `
    :host { display: flex; align-items: center; justify-content: flex-end; gap: 8px; padding: 8px 0; }
    .page { opacity: .75; }
    .size { width: 130px; }
  `,
})
export class Pager {
  readonly list = input.required<PagedList<object>>();
  protected readonly sizes = [10, 25, 50, 100];
}
