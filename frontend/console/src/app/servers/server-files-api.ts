import { HttpClient, HttpErrorResponse, HttpEventType, HttpParams, type HttpResponse } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import type { ServerFileEntry } from '@encedeus/contracts/server-files';
import { Observable, filter, firstValueFrom, lastValueFrom, map, tap } from 'rxjs';
import { ApiError, toApiError } from '../core/api-error';
import { Page, asPage } from '../shared/paged-list';

export type { ServerFileEntry };

/** Entries per `list` page the file manager asks for; "Load more" fetches the next. */
export const SERVER_FILES_PAGE = 200;

/** Directories first, then by name as the API sorts (code points), so pages appended stay in order within each group. */
export function sortEntries(entries: readonly ServerFileEntry[]): ServerFileEntry[] {
  const rank = (e: ServerFileEntry) => (e.type === 'directory' ? 0 : 1);
  return [...entries].sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What `decompress` accepts: a tar.gz, a .tgz or a plain tar. */
export function isArchive(name: string): boolean {
  return /\.(tar\.gz|tgz|tar)$/i.test(name);
}

/** Permission bits as the API takes them: three octal digits, optionally after a leading 0 (`644`, `0755`). */
export function isOctalMode(mode: string): boolean {
  return /^0?[0-7]{3}$/.test(mode.trim());
}

/**
 * One sentence for a failed file operation: the API's `{ error, code }`, made specific where the
 * status says more than the text (a missing permission; when `editing`, a file too large for the
 * editor: other 413s, such as an archive over the extraction cap, keep the API's own sentence).
 */
export function fileErrorMessage(error: ApiError, editing = false): string {
  const details = (error.details ?? {}) as { missing?: unknown; max?: unknown; reason?: unknown };
  if (error.status === 403) {
    const missing = Array.isArray(details.missing) ? details.missing.map(String).join(', ') : '';
    return missing ? `You lack ${missing} on this server. ${error.message}.` : error.message;
  }
  if (error.status === 413 && editing) {
    const max = typeof details.max === 'number' ? `${Math.round(details.max / 1024)} KiB` : 'the editor\'s limit';
    return `Too large to edit here: the file manager opens and saves files up to ${max}. ${error.message}`;
  }
  if (error.status === 503) return `The server's node is offline: ${error.message}`;
  return error.message;
}

/**
 * REST of one server's files (`/api/v1/servers/:id/files/…`, docs/server-files.md). Paths are
 * relative to the server's directory; every method rejects with an ApiError.
 */
@Injectable({ providedIn: 'root' })
export class ServerFilesApi {
  private readonly http = inject(HttpClient);

  private url(id: string, verb: string): string {
    return `/api/v1/servers/${encodeURIComponent(id)}/files/${verb}`;
  }

  /** One page of a directory, sorted by name; `cursor` null for the first. */
  async list(id: string, path: string, cursor: string | null, limit = SERVER_FILES_PAGE): Promise<Page<ServerFileEntry>> {
    let params = new HttpParams().set('path', path).set('limit', limit);
    if (cursor) params = params.set('cursor', cursor);
    return asPage(await this.call(this.http.get<Page<ServerFileEntry>>(this.url(id, 'list'), { params })));
  }

  /** A text file's contents (413 above the API's size cap). */
  contents(id: string, path: string): Promise<string> {
    return this.call(this.http.get(this.url(id, 'contents'), { params: { path }, responseType: 'text' }));
  }

  /** Creates or replaces a file (parents are created). */
  write(id: string, path: string, text: string): Promise<{ size: number }> {
    const body = new Blob([text], { type: 'text/plain; charset=utf-8' });
    return this.call(this.http.put<{ size: number }>(this.url(id, 'write'), body, { params: { path } }));
  }

  /** 409 when `to` exists. */
  rename(id: string, from: string, to: string): Promise<unknown> {
    return this.call(this.http.post(this.url(id, 'rename'), { from, to }));
  }

  /** Copies a regular file beside itself; answers the copy's name (`a copy.txt`). */
  copy(id: string, path: string): Promise<{ name: string }> {
    return this.call(this.http.post<{ name: string }>(this.url(id, 'copy'), { path }));
  }

  /** Deletes files and directories with their contents; missing paths are skipped. */
  remove(id: string, paths: string[]): Promise<{ deleted: number }> {
    return this.call(this.http.post<{ deleted: number }>(this.url(id, 'delete'), { paths }));
  }

  /** 409 when it exists. */
  mkdir(id: string, path: string): Promise<unknown> {
    return this.call(this.http.post(this.url(id, 'mkdir'), { path }));
  }

  /** `mode` as octal text (`"755"`). */
  chmod(id: string, path: string, mode: string): Promise<unknown> {
    return this.call(this.http.post(this.url(id, 'chmod'), { path, mode: mode.trim() }));
  }

  /** A tar.gz of `paths` (all in one directory), written there; answers its path. */
  compress(id: string, paths: string[], name?: string): Promise<{ name: string }> {
    return this.call(this.http.post<{ name: string }>(this.url(id, 'compress'), name ? { paths, name } : { paths }));
  }

  /** Extracts a .tar.gz or .tar beside itself. */
  decompress(id: string, path: string): Promise<{ entries: number }> {
    return this.call(this.http.post<{ entries: number }>(this.url(id, 'decompress'), { path }));
  }

  /**
   * Uploads `file` into directory `dir` (multipart, streamed by the gateway to the agent); `onProgress`
   * gets the share sent, 0–100. 413 when the server's disk limit would be passed.
   */
  async upload(id: string, dir: string, file: File, onProgress: (percent: number) => void): Promise<unknown> {
    const body = new FormData();
    body.append('file', file, file.name);
    const events = this.http.post(this.url(id, 'upload'), body, { params: { path: dir }, reportProgress: true, observe: 'events' });
    try {
      return await lastValueFrom(
        events.pipe(
          tap((e) => {
            if (e.type === HttpEventType.UploadProgress) onProgress(e.total ? Math.round((e.loaded / e.total) * 100) : 0);
          }),
          filter((e) => e.type === HttpEventType.Response),
          map((e) => (e as HttpResponse<unknown>).body),
        ),
      );
    } catch (e) {
      throw toApiError(withJsonBody(e));
    }
  }

  /** A file's bytes (streamed by the gateway; the bearer token is needed, so not a plain link). */
  download(id: string, path: string): Promise<Blob> {
    return this.call(this.http.get(this.url(id, 'download'), { params: { path }, responseType: 'blob' }));
  }

  private async call<T>(request: Observable<T>): Promise<T> {
    try {
      return await firstValueFrom(request);
    } catch (e) {
      throw toApiError(withJsonBody(e));
    }
  }
}

/** A text request's error body arrives as a string; parse it so `{ error, code }` is read as for JSON requests. */
function withJsonBody(e: unknown): unknown {
  if (!(e instanceof HttpErrorResponse) || typeof e.error !== 'string') return e;
  try {
    return new HttpErrorResponse({ error: JSON.parse(e.error), headers: e.headers, status: e.status, statusText: e.statusText, url: e.url ?? undefined });
  } catch {
    return e;
  }
}
