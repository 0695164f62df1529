import { ArgumentsHost, Catch, HttpException, Logger, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ZodValidationException } from 'nestjs-zod';
import { DomainError, type ErrorBody } from '@encedeus/contracts';
import { CODE_BY_HTTP_STATUS, httpStatusOf } from './http-status';
import { sendBody } from './negotiation';

interface ZodIssueLike { path: (string | number)[]; message: string }

/** Every error leaves the gateway as `{ error, code, details? }` with the status of its code. */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpErrorFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<Request>();
    const res = ctx.getResponse<Response>();
    if (res.headersSent) return;
    const { status, body } = this.translate(exception, req);
    const retryAfter = (body.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
    if (retryAfter !== undefined) res.setHeader('Retry-After', String(Math.ceil(retryAfter)));
    sendBody(req, res, status, body);
  }

  private translate(exception: unknown, req: Request): { status: number; body: ErrorBody } {
    if (exception instanceof ZodValidationException) {
      const issues = ((exception.getZodError() as { issues?: ZodIssueLike[] })?.issues ?? []).map((i) => ({ path: i.path.join('.'), message: i.message }));
      const names = issues.map((i) => i.path || '(body)').join(', ');
      return { status: 422, body: { error: `Invalid fields: ${names}`, code: 'VALIDATION_FAILED', details: { fields: issues } } };
    }
    if (exception instanceof DomainError) return { status: httpStatusOf(exception.code), body: exception.toBody() };
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      if (status === 404 && /^Cannot /.test(exception.message)) {
        return { status, body: { error: `No route ${req.method} ${req.path}`, code: 'ROUTE_NOT_FOUND' } };
      }
      const code = CODE_BY_HTTP_STATUS[status] ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST');
      return { status, body: { error: exception.message, code } };
    }
    const type = (exception as { type?: string })?.type;
    if (type === 'entity.too.large') return { status: 413, body: { error: 'The body is too large', code: 'PAYLOAD_TOO_LARGE' } };
    if ((exception as { code?: string })?.code === 'LIMIT_FILE_SIZE') return { status: 413, body: { error: 'The file is too large', code: 'PAYLOAD_TOO_LARGE' } };
    this.logger.error((exception as Error)?.stack ?? String(exception));
    return { status: 500, body: { error: 'Internal error', code: 'INTERNAL' } };
  }
}
