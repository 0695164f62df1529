import { Routes } from '@angular/router';
import { requires } from '../core/guards';

export const NODES_ROUTES: Routes = [
  { path: '', loadComponent: () => import('./node-list').then((m) => m.NodeList), title: 'Nodes · Encedeus' },
  { path: 'new', canActivate: [requires('nodes.manage')], loadComponent: () => import('./node-create').then((m) => m.NodeCreate), title: 'New node · Encedeus' },
  { path: ':id', loadComponent: () => import('./node-detail').then((m) => m.NodeDetail), title: 'Node · Encedeus' },
];
