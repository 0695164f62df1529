import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { Response } from 'express';
import { map, type Observable } from 'rxjs';
import { etag } from './request-meta';

/**
 * Sets `ETag: "<version>"` on a reply that is one aggregate (an object with a numeric `version`),
 * so a client can send it back as `If-Match` (412 when the aggregate moved on), with `Cache-Control:
 * no-store` (the body depends on the caller, the ETag does not). Lists are left alone.
 */
@Injectable()
export class VersionEtagInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const res = context.switchToHttp().getResponse<Response>();
    return next.handle().pipe(
      map((body: unknown) => {
        const version = (body as { version?: unknown } | null)?.version;
        if (typeof version === 'number' && Number.isInteger(version) && !Array.isArray(body) && !res.headersSent) {
          res.setHeader('ETag', etag(version));
          // The same version reads differently per caller (a server's SFTP user name, the sub-users one
          // may see), and the ETag is only the version: a browser that kept one user's copy would have
          // it confirmed by a 304 for the next user (Chromium revalidates even across `Vary`). Not stored.
          res.setHeader('Cache-Control', 'no-store');
          res.vary('Authorization');
        }
        return body;
      }),
    );
  }
}
