import { ChangeDetectionStrategy, Component, computed, effect, inject, signal } from '@angular/core';
import { toSignal } from '@angular/core/rxjs-interop';
import { BreakpointObserver } from '@angular/cdk/layout';
import { MatButtonModule } from '@angular/material/button';
import { MatListModule } from '@angular/material/list';
import { MatMenuModule } from '@angular/material/menu';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSidenavModule } from '@angular/material/sidenav';
import { MatToolbarModule } from '@angular/material/toolbar';
import { MatTooltipModule } from '@angular/material/tooltip';
import { NavigationCancel, NavigationEnd, NavigationError, NavigationStart, Router, RouterLink, RouterLinkActive, RouterOutlet } from '@angular/router';
import { filter, map } from 'rxjs';
import { Icon, IconName } from '../shared/icon';
import { AlertToasts } from './alert-toasts';
import { Auth } from './auth';
import { ConnectionIndicator } from './connection-indicator';
import { Theme } from './theme';

interface NavItem {
  path: string;
  label: string;
  icon: IconName;
  testId: string;
  /** Hidden unless the user holds it; owners see their own servers, so some items need none. */
  permission?: string;
  group: 'fleet' | 'admin';
}

const NAV: NavItem[] = [
  { path: '/dashboard', label: 'Dashboard', icon: 'dashboard', testId: 'nav-dashboard', group: 'fleet' },
  { path: '/nodes', label: 'Nodes', icon: 'nodes', testId: 'nav-nodes', permission: 'nodes.read', group: 'fleet' },
  { path: '/servers', label: 'Servers', icon: 'servers', testId: 'nav-servers', group: 'fleet' },
  { path: '/files', label: 'Files', icon: 'upload', testId: 'nav-files', permission: 'files.read', group: 'fleet' },
  { path: '/templates', label: 'Templates', icon: 'servers', testId: 'nav-templates', permission: 'templates.read', group: 'fleet' },
  { path: '/jobs', label: 'Jobs', icon: 'jobs', testId: 'nav-jobs', permission: 'jobs.run', group: 'fleet' },
  { path: '/plugins', label: 'Plugins', icon: 'events', testId: 'nav-plugins', permission: 'plugins.manage', group: 'admin' },
  { path: '/admin/users', label: 'Users', icon: 'users', testId: 'nav-users', permission: 'users.read', group: 'admin' },
  { path: '/admin/roles', label: 'Roles', icon: 'roles', testId: 'nav-roles', permission: 'roles.read', group: 'admin' },
  { path: '/admin/api-keys', label: 'API keys', icon: 'key', testId: 'nav-api-keys', permission: 'apikeys.manage', group: 'admin' },
  { path: '/admin/audit', label: 'Audit log', icon: 'audit', testId: 'nav-audit', permission: 'audit.read', group: 'admin' },
  { path: '/admin/events', label: 'Event stream', icon: 'events', testId: 'nav-events', permission: 'events.read', group: 'admin' },
];

/** The signed-in frame: toolbar with the connection indicator and user menu, side navigation, content. */
@Component({
  selector: 'adm-shell',
  imports: [
    RouterOutlet, RouterLink, RouterLinkActive, MatToolbarModule, MatSidenavModule, MatListModule, MatButtonModule,
    MatMenuModule, MatProgressBarModule, MatTooltipModule, Icon, ConnectionIndicator,
  ],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <mat-toolbar class="topbar">
      @if (compact()) {
        <button mat-icon-button (click)="toggleNav()" aria-label="Menu" data-testid="nav-toggle"><adm-icon name="menu" /></button>
      }
      <a class="brand" routerLink="/dashboard"><img src="favicon.svg" alt="" width="24" height="24" /> Encedeus</a>
      <span class="spacer"></span>
      <adm-connection-indicator />
      <button mat-icon-button (click)="theme.toggle()" [attr.aria-label]="theme.effective() === 'dark' ? 'Switch to light mode' : 'Switch to dark mode'"
              [matTooltip]="theme.effective() === 'dark' ? 'Light mode' : 'Dark mode'" data-testid="theme-toggle">
        <adm-icon [name]="theme.effective() === 'dark' ? 'light_mode' : 'dark_mode'" />
      </button>
      <button mat-button [matMenuTriggerFor]="userMenu" class="user" data-testid="user-menu">{{ userName() }}</button>
      <mat-menu #userMenu="matMenu">
        <div class="menu-head">
          <div>{{ email() }}</div>
          <small>{{ roleNames() }}</small>
        </div>
        <a mat-menu-item routerLink="/account" data-testid="account-link">My account</a>
        <button mat-menu-item (click)="logout()" data-testid="logout"><adm-icon name="logout" /> Sign out</button>
      </mat-menu>
    </mat-toolbar>
    @if (navigating()) {
      <mat-progress-bar mode="indeterminate" class="route-progress" />
    }
    <mat-sidenav-container class="frame">
      <mat-sidenav [mode]="compact() ? 'over' : 'side'" [opened]="navOpen()" (closedStart)="navClosed()" class="nav">
        <mat-nav-list>
          @for (item of fleetNav(); track item.path) {
            <a mat-list-item [routerLink]="item.path" routerLinkActive="active" [attr.data-testid]="item.testId" (click)="navigated()">
              <adm-icon matListItemIcon [name]="item.icon" /> <span matListItemTitle>{{ item.label }}</span>
            </a>
          }
          @if (adminNav().length) {
            <div mat-subheader>Administration</div>
            @for (item of adminNav(); track item.path) {
              <a mat-list-item [routerLink]="item.path" routerLinkActive="active" [attr.data-testid]="item.testId" (click)="navigated()">
                <adm-icon matListItemIcon [name]="item.icon" /> <span matListItemTitle>{{ item.label }}</span>
              </a>
            }
          }
        </mat-nav-list>
      </mat-sidenav>
      <mat-sidenav-content>
        <main class="content"><router-outlet /></main>
      </mat-sidenav-content>
    </mat-sidenav-container>
  `,
  styles: `
    :host { display: flex; flex-direction: column; height: 100vh; }
    .topbar { gap: 8px; position: relative; z-index: 2; border-bottom: 1px solid var(--mat-sys-outline-variant); }
    .brand { display: inline-flex; align-items: center; gap: 8px; color: inherit; text-decoration: none; font-weight: 600; }
    .spacer { flex: 1; }
    .route-progress { position: absolute; top: 64px; left: 0; right: 0; z-index: 3; }
    .frame { flex: 1; }
    .nav { width: 232px; border-right: 1px solid var(--mat-sys-outline-variant); }
    .active { background: var(--mat-sys-secondary-container); }
    .content { padding: 24px; max-width: 1400px; margin: 0 auto; }
    .menu-head { padding: 8px 16px; display: flex; flex-direction: column; }
    .menu-head small { opacity: .7; }
  `,
})
export class Shell {
  private readonly auth = inject(Auth);
  private readonly router = inject(Router);
  protected readonly theme = inject(Theme);

  protected readonly compact = toSignal(inject(BreakpointObserver).observe('(max-width: 900px)').pipe(map((s) => s.matches)), { initialValue: false });
  private readonly navToggled = signal(false);
  protected readonly navOpen = computed(() => !this.compact() || this.navToggled());
  protected readonly navigating = toSignal(
    this.router.events.pipe(
      filter((e) => e instanceof NavigationStart || e instanceof NavigationEnd || e instanceof NavigationCancel || e instanceof NavigationError),
      map((e) => e instanceof NavigationStart),
    ),
    { initialValue: false },
  );

  private readonly visibleNav = computed(() => NAV.filter((item) => !item.permission || this.auth.can(item.permission)));
  protected readonly fleetNav = computed(() => this.visibleNav().filter((i) => i.group === 'fleet'));
  protected readonly adminNav = computed(() => this.visibleNav().filter((i) => i.group === 'admin'));
  protected readonly userName = computed(() => this.auth.me()?.user.name ?? '');
  protected readonly email = computed(() => this.auth.me()?.user.email ?? '');
  protected readonly roleNames = computed(() => (this.auth.me()?.roles ?? []).map((r) => r.name).join(', '));

  constructor() {
    // Raised and resolved alerts are toasted on every page for whoever reads the event feed.
    const toasts = inject(AlertToasts);
    effect(() => {
      if (this.auth.can('events.read')) toasts.start();
    });
  }

  protected toggleNav(): void {
    this.navToggled.update((v) => !v);
  }

  protected navClosed(): void {
    this.navToggled.set(false);
  }

  protected navigated(): void {
    if (this.compact()) this.navToggled.set(false);
  }

  protected logout(): void {
    void this.auth.logout();
  }
}
