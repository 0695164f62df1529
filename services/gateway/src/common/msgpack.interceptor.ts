import { CallHandler, ExecutionContext, Injectable, StreamableFile, type NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import { map, type Observable } from 'rxjs';
import { pack, wantsMsgpack } from './negotiation';

/** Answers in MessagePack when the client asks for it with `Accept: application/msgpack`. */
@Injectable()
export class MsgpackInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context.switchToHttp().getRequest<Request>();
    if (!wantsMsgpack(req)) return next.handle();
    const res = context.switchToHttp().getResponse<Response>();
    return next.handle().pipe(
      map((body) => {
        if (body instanceof StreamableFile || Buffer.isBuffer(body) || res.headersSent) return body;
        res.setHeader('Content-Type', 'application/msgpack');
        return new StreamableFile(pack(body ?? null), { type: 'application/msgpack' });
      }),
    );
  }
}
