import { ChangeDetectionStrategy, Component } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { RouterLink } from '@angular/router';

@Component({
  selector: 'adm-not-found',
  imports: [MatButtonModule, RouterLink],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <section class="full-state" data-testid="not-found">
      <h1>404</h1>
      <p>There is no page here.</p>
      <a mat-flat-button routerLink="/dashboard">Back to the dashboard</a>
    </section>
  `,
})
export class NotFound {}
