import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { Response } from 'express';
import { map, type Observable } from 'rxjs';
import { etag } from './request-meta';

/**
 * Sets `ETag: "<version>"` on a reply that is one aggregate (an object with a numeric `version`),
 * so a client can send it back as `If-Match` (412 when the aggregate moved on). Lists are left alone.
 */
@Injectable()
export class VersionEtagInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const res = context.switchToHttp().getResponse<Response>();
    return next.handle().pipe(
      map((body: unknown) => {
        const version = (body as { version?: unknown } | null)?.version;
        if (typeof version === 'number' && Number.isInteger(version) && !Array.isArray(body) && !res.headersSent) res.setHeader('ETag', etag(version));
        return body;
      }),
    );
  }
}
