import { HttpErrorResponse, HttpInterceptorFn, HttpRequest } from '@angular/common/http';
import { inject } from '@angular/core';
import { catchError, from, switchMap, throwError } from 'rxjs';
import { toApiError } from './api-error';
import { Auth } from './auth';

const withToken = (req: HttpRequest<unknown>, token: string | null) =>
  token ? req.clone({ setHeaders: { Authorization: `Bearer ${token}` } }) : req;

/**
 * Adds the access token to every API call. On a 401 it refreshes once and retries once;
 * when the refresh itself fails the session ends and the user lands on the login page.
 * Every error leaves here as an ApiError.
 */
export const authInterceptor: HttpInterceptorFn = (req, next) => {
  if (!req.url.startsWith('/api/')) return next(req);
  const auth = inject(Auth);
  const token = auth.accessToken();
  return next(withToken(req, token)).pipe(
    catchError((e: unknown) => {
      if (!(e instanceof HttpErrorResponse) || e.status !== 401 || !token) return throwError(() => toApiError(e));
      return from(auth.refresh()).pipe(
        catchError((refreshError: unknown) => {
          auth.endSession();
          return throwError(() => toApiError(refreshError));
        }),
        switchMap((fresh) =>
          next(withToken(req, fresh)).pipe(
            catchError((retryError: unknown) => {
              if (retryError instanceof HttpErrorResponse && retryError.status === 401) auth.endSession();
              return throwError(() => toApiError(retryError));
            }),
          ),
        ),
      );
    }),
  );
};
