import { HttpErrorResponse } from '@angular/common/http';

/** One field the server rejected: `path` names the field (dots for nesting, e.g. `limits.memory_mb`). */
export interface FieldError {
  path: string;
  message: string;
}

/** Every failure the console shows: the API's `{ error, code, details? }` plus the HTTP status. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
    readonly fields: FieldError[] = [],
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface ErrorBody {
  error?: unknown;
  message?: unknown;
  code?: unknown;
  details?: unknown;
}

function fieldsOf(details: unknown): FieldError[] {
  const fields = (details as { fields?: unknown } | null)?.fields;
  if (!Array.isArray(fields)) return [];
  return fields
    .filter((f): f is { path: unknown; message: unknown } => !!f && typeof f === 'object')
    .map((f) => ({
      path: Array.isArray(f.path) ? f.path.join('.') : String(f.path ?? ''),
      message: String(f.message ?? 'Invalid value'),
    }));
}

/** Normalises anything thrown by HttpClient, socket calls or our own code into an ApiError. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof HttpErrorResponse) {
    if (e.status === 0) return new ApiError('The server cannot be reached', 'NETWORK', 0);
    const body = (typeof e.error === 'object' && e.error ? e.error : {}) as ErrorBody;
    const message =
      typeof body.error === 'string' ? body.error : typeof body.message === 'string' ? body.message : e.statusText || `HTTP ${e.status}`;
    const code = typeof body.code === 'string' ? body.code : `HTTP_${e.status}`;
    return new ApiError(message, code, e.status, fieldsOf(body.details), body.details);
  }
  if (e && typeof e === 'object' && 'code' in e && ('error' in e || 'message' in e)) {
    const body = e as ErrorBody;
    return new ApiError(String(body.error ?? body.message), String(body.code), 0, fieldsOf(body.details), body.details);
  }
  return new ApiError(e instanceof Error ? e.message : String(e), 'CLIENT', 0);
}

/** A UUID inside a sentence, with the space before it. */
const UUID_IN_TEXT = /\s*\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;

/**
 * The sentence the console shows for an error (issue 14): the API's message without the ids it
 * names, since a UUID tells an operator nothing the page does not already say, and without the
 * machine code, which stays in ApiError.code for tooltips and tests.
 */
export function readableMessage(e: ApiError): string {
  return e.message.replace(UUID_IN_TEXT, '').replace(/\s{2,}/g, ' ').trim() || 'Something went wrong';
}
