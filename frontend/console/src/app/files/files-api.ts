import { HttpClient, HttpEvent, HttpEventType, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, filter, firstValueFrom, map } from 'rxjs';

/** An entry of a folder (`GET /fs/ls`, seed 001). */
export interface FsEntry {
  name: string;
  type: 'file' | 'folder';
  size: number;
  modified: string;
}

/** A raw file (`GET /files`, seed 001). */
export interface RawFile {
  id: string;
  name: string;
  size: number;
  chunks_count: number;
  status: 'Uploaded';
  created_at: string;
}

export interface Quota {
  used_bytes: number;
  quota_bytes: number;
}

/** Upload progress: bytes sent so far, then the done reply. */
export type UploadProgress = { sent: number; total: number; done: false } | { done: true };

/** REST of the files service: the caller's VFS, raw files and quota. */
@Injectable({ providedIn: 'root' })
export class FilesApi {
  private readonly http = inject(HttpClient);

  /** Every entry of a folder (follows X-Next-Cursor). */
  async ls(path: string): Promise<FsEntry[]> {
    const all: FsEntry[] = [];
    let cursor: string | null = null;
    do {
      let params = new HttpParams().set('path', path).set('limit', 500);
      if (cursor) params = params.set('cursor', cursor);
      const res = await firstValueFrom(this.http.get<FsEntry[]>('/api/v1/fs/ls', { params, observe: 'response' }));
      all.push(...(res.body ?? []));
      cursor = res.headers.get('X-Next-Cursor');
    } while (cursor);
    return all;
  }

  mkdir(path: string): Promise<unknown> {
    return firstValueFrom(this.http.post('/api/v1/fs/mkdir', { path }));
  }

  move(oldPath: string, newPath: string): Promise<unknown> {
    return firstValueFrom(this.http.post('/api/v1/fs/move', { old_path: oldPath, new_path: newPath }));
  }

  remove(path: string): Promise<unknown> {
    return firstValueFrom(this.http.delete('/api/v1/fs/delete', { params: { path } }));
  }

  quota(): Promise<Quota> {
    return firstValueFrom(this.http.get<Quota>('/api/v1/fs/quota'));
  }

  rawFiles(): Promise<RawFile[]> {
    return firstValueFrom(this.http.get<RawFile[]>('/api/v1/files', { params: { limit: 500 } }));
  }

  /** Uploads one file to `path` (the path field goes first: the gateway streams the file part). */
  upload(path: string, file: File): Observable<UploadProgress> {
    const body = new FormData();
    body.append('path', path);
    body.append('file', file, file.name);
    return this.http.post('/api/v1/fs/upload', body, { reportProgress: true, observe: 'events' }).pipe(
      filter((e: HttpEvent<unknown>) => e.type === HttpEventType.UploadProgress || e.type === HttpEventType.Response),
      map((e): UploadProgress => (e.type === HttpEventType.UploadProgress ? { sent: e.loaded, total: e.total ?? file.size, done: false } : { done: true })),
    );
  }

  /** The file's bytes (with the session's token, which a plain link would not carry). */
  download(path: string): Promise<Blob> {
    return firstValueFrom(this.http.get('/api/v1/fs/download', { params: { path }, responseType: 'blob' }));
  }

  downloadRaw(id: string): Promise<Blob> {
    return firstValueFrom(this.http.get(`/api/v1/files/${encodeURIComponent(id)}/download`, { responseType: 'blob' }));
  }
}

/** Saves a blob under `name` through a temporary link. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
