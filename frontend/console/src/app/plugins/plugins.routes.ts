import { Routes } from '@angular/router';

export const PLUGINS_ROUTES: Routes = [{ path: '', loadComponent: () => import('./plugins-page').then((m) => m.PluginsPage), title: 'Plugins · Encedeus' }];
