import { ChangeDetectionStrategy, Component } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { RouterLink } from '@angular/router';

/** 403: the user reached a page their permissions do not cover. */
@Component({
  selector: 'adm-forbidden',
  imports: [MatButtonModule, RouterLink],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <section class="full-state" data-testid="forbidden">
      <h1>403</h1>
      <p>You do not have permission to open this page.</p>
      <p class="hint">Ask an administrator for a role that grants it.</p>
      <a mat-flat-button routerLink="/dashboard">Back to the dashboard</a>
    </section>
  `,
})
export class Forbidden {}
