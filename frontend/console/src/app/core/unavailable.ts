import { ChangeDetectionStrategy, Component } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { RouterLink } from '@angular/router';

/** Signed in, but `/auth/me` could not be loaded (gateway down). */
@Component({
  selector: 'adm-unavailable',
  imports: [MatButtonModule, RouterLink],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <section class="full-state" data-testid="unavailable">
      <h1>The control plane is not answering</h1>
      <p>Your session is kept. Try again in a moment.</p>
      <a mat-flat-button routerLink="/dashboard">Try again</a>
    </section>
  `,
})
export class Unavailable {}
