import { Routes } from '@angular/router';

export const TEMPLATES_ROUTES: Routes = [
  { path: '', loadComponent: () => import('./template-list').then((m) => m.TemplateList), title: 'Templates · Encedeus' },
  { path: ':id', loadComponent: () => import('./template-editor').then((m) => m.TemplateEditor), title: 'Template · Encedeus' },
];
