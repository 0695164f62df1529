/**
 * Error codes are part of the public contract: once published a code never changes.
 * The HTTP status of each code is decided once, in the gateway's table (see HTTP_STATUS_BY_CODE).
 */
export const ERROR_CODES = [
  'BAD_REQUEST',
  'MALFORMED_BODY',
  'VALIDATION_FAILED',
  'UNSUPPORTED_MEDIA_TYPE',
  'PAYLOAD_TOO_LARGE',
  'UNAUTHENTICATED',
  'TOKEN_EXPIRED',
  'FORBIDDEN',
  'NOT_FOUND',
  'ROUTE_NOT_FOUND',
  'CONFLICT',
  'ALREADY_EXISTS',
  'WRONG_EXPECTED_REVISION',
  'PRECONDITION_FAILED',
  'UNPROCESSABLE',
  'IDEMPOTENCY_KEY_REUSED',
  'RATE_LIMITED',
  'SERVICE_UNAVAILABLE',
  'TIMEOUT',
  'FEATURE_DISABLED',
  'INSUFFICIENT_CAPACITY',
  'QUOTA_EXCEEDED',
  'BACKUP_LIMIT',
  /** A write would take a server past its disk limit (`limits.disk_mb`); 413. */
  'DISK_QUOTA_EXCEEDED',
  'CANCELLED',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number] | (string & {});

/** Wire shape of every error: REST bodies, NATS replies, socket.io failures. */
export interface ErrorBody {
  error: string;
  code: ErrorCode;
  details?: unknown;
}

/** Base of every typed error. `code` survives NATS hops and becomes the HTTP status at the gateway. */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options as never);
    this.name = new.target.name;
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { error: this.message, code: this.code }
      : { error: this.message, code: this.code, details: this.details };
  }
}

export class NotFoundError extends DomainError {
  constructor(what: string, id?: string) {
    super('NOT_FOUND', id ? `${what} ${id} was not found` : `${what} was not found`, id ? { id } : undefined);
  }
}

export class ValidationError extends DomainError {
  constructor(message: string, readonly fields: { path: string; message: string }[]) {
    super('VALIDATION_FAILED', message, { fields });
  }
}

export class ConflictError extends DomainError {
  constructor(message: string, details?: unknown) {
    super('CONFLICT', message, details);
  }
}

export class ForbiddenError extends DomainError {
  constructor(message = 'You do not have permission to do this', details?: unknown) {
    super('FORBIDDEN', message, details);
  }
}

export class UnauthenticatedError extends DomainError {
  constructor(message = 'Authentication required') {
    super('UNAUTHENTICATED', message);
  }
}

/** An append found the aggregate at another version than expected. */
export class WrongExpectedRevisionError extends DomainError {
  constructor(
    readonly stream: string,
    readonly expectedVersion: number,
    readonly actualVersion?: number,
    options?: { cause?: unknown },
  ) {
    super(
      'WRONG_EXPECTED_REVISION',
      `${stream} was modified concurrently (expected version ${expectedVersion}${actualVersion === undefined ? '' : `, found ${actualVersion}`})`,
      { stream, expectedVersion, actualVersion },
      options,
    );
  }
}

export class PreconditionFailedError extends DomainError {
  constructor(readonly currentVersion: number) {
    super('PRECONDITION_FAILED', `The resource has changed; its current version is ${currentVersion}`, { currentVersion });
  }
}

export class ServiceUnavailableError extends DomainError {
  constructor(message: string, details?: unknown) {
    super('SERVICE_UNAVAILABLE', message, details);
  }
}

/** Rebuilds a typed error from a wire body (the caller side of a NATS hop). */
export function errorFromBody(body: ErrorBody): DomainError {
  return new DomainError(body.code, body.error, body.details);
}

export function isErrorBody(value: unknown): value is ErrorBody {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ErrorBody).code === 'string' &&
    typeof (value as ErrorBody).error === 'string'
  );
}
