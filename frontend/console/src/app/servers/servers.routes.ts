import { Routes } from '@angular/router';
import { requires } from '../core/guards';

export const SERVERS_ROUTES: Routes = [
  { path: '', loadComponent: () => import('./server-list').then((m) => m.ServerList), title: 'Servers · Encedeus' },
  { path: 'new', canActivate: [requires('servers.create')], loadComponent: () => import('./server-create').then((m) => m.ServerCreate), title: 'New server · Encedeus' },
  { path: ':id', loadComponent: () => import('./server-detail').then((m) => m.ServerDetail), title: 'Server · Encedeus' },
];
