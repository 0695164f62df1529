import { ChangeDetectionStrategy, Component, input } from '@angular/core';

/** A coloured pill for a node or server state; the text is the raw state, so tests can read it. */
@Component({
  selector: 'adm-state-chip',
  changeDetection: ChangeDetectionStrategy.OnPush,
  host: { '[attr.data-state]': 'state()', '[class]': '"state-chip state-" + state()' },
  template: `{{ state() }}`,
})
export class StateChip {
  readonly state = input.required<string>();
}
