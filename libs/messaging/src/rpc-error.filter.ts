import { Catch, Logger, type ArgumentsHost, type RpcExceptionFilter } from '@nestjs/common';
import { throwError, type Observable } from 'rxjs';
import { ZodError } from 'zod';
import { DomainError, type ErrorBody } from '@encedeus/contracts';

/**
 * Nest's base RPC filter turns anything that is not an RpcException into a generic
 * "Internal server error". This filter keeps the `{ error, code, details }` of typed errors so the
 * caller can rebuild them on the other side of the hop.
 */
@Catch()
export class RpcErrorFilter implements RpcExceptionFilter<unknown> {
  private readonly logger = new Logger('RpcErrorFilter');

  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => toErrorBody(exception, this.logger));
  }
}

export function toErrorBody(exception: unknown, logger?: Logger): ErrorBody {
  if (exception instanceof DomainError) return exception.toBody();
  if (exception instanceof ZodError) {
    return {
      error: 'The command is invalid',
      code: 'VALIDATION_FAILED',
      details: { fields: exception.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    };
  }
  logger?.error((exception as Error)?.stack ?? String(exception));
  return { error: 'Internal error', code: 'INTERNAL' };
}
