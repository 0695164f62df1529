import { DomainError } from '@encedeus/contracts';

/** A driver operation failed for a reason outside the caller's control (engine, kernel, filesystem). */
export class DriverError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INTERNAL', message, undefined, options);
  }
}

/** The driver has no spec for this server id. */
export class ServerNotFoundError extends DomainError {
  constructor(readonly serverId: string) {
    super('NOT_FOUND', `server ${serverId} is not known to this driver`, { id: serverId });
  }
}

/** The operation needs a running server. */
export class ServerNotRunningError extends DomainError {
  constructor(readonly serverId: string) {
    super('CONFLICT', `server ${serverId} is not running`, { id: serverId });
  }
}

/** The spec cannot run on this driver (missing image, bad path, unsupported port mapping). */
export class InvalidServerSpecError extends DomainError {
  constructor(message: string) {
    super('UNPROCESSABLE', message);
  }
}

/** The server directory is over its disk limit, so it may not start. */
export class DiskLimitExceededError extends DomainError {
  constructor(readonly serverId: string, readonly diskBytes: number, readonly limitBytes: number) {
    super('INSUFFICIENT_CAPACITY', `server ${serverId} uses ${diskBytes} bytes of its ${limitBytes} byte disk limit`, {
      id: serverId,
      diskBytes,
      limitBytes,
    });
  }
}
