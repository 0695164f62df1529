import { Routes } from '@angular/router';

export const JOBS_ROUTES: Routes = [
  { path: '', loadComponent: () => import('./job-runner').then((m) => m.JobRunner), title: 'Jobs · Encedeus' },
  { path: ':id', loadComponent: () => import('./job-detail').then((m) => m.JobDetail), title: 'Job · Encedeus' },
];
