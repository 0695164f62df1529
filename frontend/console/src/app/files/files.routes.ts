import { Routes } from '@angular/router';

export const FILES_ROUTES: Routes = [{ path: '', loadComponent: () => import('./file-browser').then((m) => m.FileBrowser), title: 'Files · Encedeus' }];
