import { Routes } from '@angular/router';
import { requires, signedIn, signedOut } from './core/guards';

export const routes: Routes = [
  { path: 'login', canActivate: [signedOut], loadChildren: () => import('./auth/auth.routes').then((m) => m.AUTH_ROUTES) },
  { path: 'unavailable', loadComponent: () => import('./core/unavailable').then((m) => m.Unavailable), title: 'Unavailable · Encedeus' },
  {
    path: '',
    canActivate: [signedIn],
    loadComponent: () => import('./core/shell').then((m) => m.Shell),
    children: [
      { path: '', pathMatch: 'full', redirectTo: 'dashboard' },
      { path: 'dashboard', loadChildren: () => import('./dashboard/dashboard.routes').then((m) => m.DASHBOARD_ROUTES) },
      { path: 'nodes', canActivate: [requires('nodes.read')], loadChildren: () => import('./nodes/nodes.routes').then((m) => m.NODES_ROUTES) },
      // Owners always see their own servers, so the list needs no permission; actions inside do.
      { path: 'servers', loadChildren: () => import('./servers/servers.routes').then((m) => m.SERVERS_ROUTES) },
      { path: 'files', canActivate: [requires('files.read')], loadChildren: () => import('./files/files.routes').then((m) => m.FILES_ROUTES) },
      { path: 'templates', canActivate: [requires('templates.read')], loadChildren: () => import('./templates/templates.routes').then((m) => m.TEMPLATES_ROUTES) },
      { path: 'jobs', canActivate: [requires('jobs.run')], loadChildren: () => import('./jobs/jobs.routes').then((m) => m.JOBS_ROUTES) },
      { path: 'plugins', canActivate: [requires('plugins.manage')], loadChildren: () => import('./plugins/plugins.routes').then((m) => m.PLUGINS_ROUTES) },
      { path: 'account', loadComponent: () => import('./account/account').then((m) => m.Account), title: 'My account · Encedeus' },
      { path: 'admin', loadChildren: () => import('./admin/admin.routes').then((m) => m.ADMIN_ROUTES) },
      { path: 'forbidden', loadComponent: () => import('./core/forbidden').then((m) => m.Forbidden), title: 'Forbidden · Encedeus' },
      { path: '**', loadComponent: () => import('./core/not-found').then((m) => m.NotFound), title: 'Not found · Encedeus' },
    ],
  },
];
