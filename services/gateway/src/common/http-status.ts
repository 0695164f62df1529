import type { ErrorCode } from '@encedeus/contracts';

/** The one table from error code to HTTP status (STYLE.md: translate once, at the edge). */
export const HTTP_STATUS_BY_CODE: Record<string, number> = {
  BAD_REQUEST: 400,
  MALFORMED_BODY: 400,
  UNAUTHENTICATED: 401,
  TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  CONFLICT: 409,
  ALREADY_EXISTS: 409,
  WRONG_EXPECTED_REVISION: 409,
  INSUFFICIENT_CAPACITY: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  QUOTA_EXCEEDED: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  VALIDATION_FAILED: 422,
  UNPROCESSABLE: 422,
  IDEMPOTENCY_KEY_REUSED: 422,
  RATE_LIMITED: 429,
  FEATURE_DISABLED: 403,
  SERVICE_UNAVAILABLE: 503,
  TIMEOUT: 503,
  INTERNAL: 500,
};

export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS_BY_CODE[code] ?? 500;
}

/** Codes for statuses Nest itself raises (unknown routes, framework errors). */
export const CODE_BY_HTTP_STATUS: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'ROUTE_NOT_FOUND',
  405: 'BAD_REQUEST',
  409: 'CONFLICT',
  412: 'PRECONDITION_FAILED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'VALIDATION_FAILED',
  429: 'RATE_LIMITED',
  503: 'SERVICE_UNAVAILABLE',
};
