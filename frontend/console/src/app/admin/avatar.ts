import { ChangeDetectionStrategy, Component, computed, effect, inject, input, signal } from '@angular/core';
import { UsersApi } from './users-api';

/** A user's profile picture, or their initials while there is none. */
@Component({
  selector: 'adm-avatar',
  changeDetection: ChangeDetectionStrategy.OnPush,
  host: { '[style.width.px]': 'size()', '[style.height.px]': 'size()' },
  template: `
    @if (url(); as src) {
      <img [src]="src" alt="" data-testid="avatar-img" />
    } @else {
      <span>{{ initials() }}</span>
    }
  `,
  styles: `
    :host { display: inline-grid; place-items: center; border-radius: 50%; overflow: hidden; flex: none;
      background: var(--mat-sys-secondary-container); color: var(--mat-sys-on-secondary-container); font-size: 13px; font-weight: 600; }
    img { width: 100%; height: 100%; object-fit: cover; }
  `,
})
export class Avatar {
  private readonly api = inject(UsersApi);
  readonly userId = input.required<string>();
  readonly name = input('');
  readonly size = input(32);
  /** Bump to reload after an upload. */
  readonly revision = input(0);
  /** The user's `hasPicture`: when false nothing is fetched (the gateway would answer 404) until `revision` moves. */
  readonly hasPicture = input(true);
  protected readonly url = signal<string | null>(null);
  protected readonly initials = computed(() =>
    this.name()
      .split(/[\s._@-]+/)
      .filter(Boolean)
      .slice(0, 2)
      .map((w) => w[0]?.toUpperCase())
      .join(''),
  );

  constructor() {
    effect((onCleanup) => {
      if (!this.hasPicture() && this.revision() === 0) {
        this.url.set(null);
        return;
      }
      let live = true;
      void this.api.picture(this.userId()).then((url) => live && this.url.set(url));
      onCleanup(() => (live = false));
    });
  }
}
