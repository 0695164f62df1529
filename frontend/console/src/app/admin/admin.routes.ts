import { Routes } from '@angular/router';
import { requires } from '../core/guards';

export const ADMIN_ROUTES: Routes = [
  { path: '', pathMatch: 'full', redirectTo: 'users' },
  { path: 'users', canActivate: [requires('users.read')], loadComponent: () => import('./user-list').then((m) => m.UserList), title: 'Users · Encedeus' },
  { path: 'roles', canActivate: [requires('roles.read')], loadComponent: () => import('./role-list').then((m) => m.RoleList), title: 'Roles · Encedeus' },
  { path: 'api-keys', canActivate: [requires('apikeys.manage')], loadComponent: () => import('./api-keys').then((m) => m.ApiKeys), title: 'API keys · Encedeus' },
  { path: 'audit', canActivate: [requires('audit.read')], loadComponent: () => import('./audit-log').then((m) => m.AuditLog), title: 'Audit log · Encedeus' },
  { path: 'events', canActivate: [requires('events.read')], loadComponent: () => import('./event-stream').then((m) => m.EventStream), title: 'Event stream · Encedeus' },
];
