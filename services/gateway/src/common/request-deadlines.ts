import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { ErrorBody } from '@encedeus/contracts';

/** How long the gateway waits for the bodies of requests (see applyRequestDeadlines). */
export interface RequestDeadlines {
  /** A request body that is not a multipart upload must have arrived whole within this. @default 300000 (Node's own requestTimeout) */
  bodyMs: number;
  /** A multipart upload may take as long as it needs, but no more than this may pass without a byte arriving. @default 120000 */
  uploadIdleMs: number;
}

export const DEFAULT_REQUEST_DEADLINES: RequestDeadlines = { bodyMs: 300_000, uploadIdleMs: 120_000 };

/** The deadlines from GATEWAY_BODY_TIMEOUT_MS and GATEWAY_UPLOAD_IDLE_TIMEOUT_MS, else the defaults. */
export function requestDeadlinesFromEnv(env: NodeJS.ProcessEnv = process.env): RequestDeadlines {
  const ms = (value: string | undefined, fallback: number) => {
    const n = Number(value);
    return value !== undefined && value !== '' && Number.isSafeInteger(n) && n > 0 ? n : fallback;
  };
  return {
    bodyMs: ms(env.GATEWAY_BODY_TIMEOUT_MS, DEFAULT_REQUEST_DEADLINES.bodyMs),
    uploadIdleMs: ms(env.GATEWAY_UPLOAD_IDLE_TIMEOUT_MS, DEFAULT_REQUEST_DEADLINES.uploadIdleMs),
  };
}

function isMultipart(req: IncomingMessage): boolean {
  return /^multipart\/form-data\b/i.test(String(req.headers['content-type'] ?? ''));
}

/**
 * Node's `requestTimeout` (5 min for the whole request) cut every upload that took longer: a 1 GiB
 * file needed 3.4 MiB/s or more. It is off here, and each request gets the deadline that fits it:
 * a multipart upload is cut only when its bytes stop arriving for `uploadIdleMs` (a slow link may
 * take hours for a large file; a stalled client frees its socket and, through the upload's abort,
 * its quota reservation); any other body must arrive whole within `bodyMs`, as before. Headers keep
 * Node's `headersTimeout`. A cut request whose answer has not started gets 408 `{ error, code }`.
 */
export function applyRequestDeadlines(server: Server, deadlines: RequestDeadlines = DEFAULT_REQUEST_DEADLINES): void {
  server.requestTimeout = 0;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.complete) return;
    const socket = req.socket;
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      socket.setTimeout(0);
      socket.off('timeout', cut);
    };
    const cut = () => {
      if (req.complete) return done();
      done();
      if (!res.headersSent && socket.writable) {
        const body: ErrorBody = { error: 'The request body stopped arriving or took too long', code: 'TIMEOUT' };
        const json = JSON.stringify(body);
        socket.end(`HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`);
        // A client that does not read the answer must not hold the socket either.
        setTimeout(() => socket.destroy(), 1_000).unref();
      } else {
        socket.destroy();
      }
    };
    if (isMultipart(req)) {
      // Socket inactivity: every byte read (or written) restarts it.
      socket.setTimeout(deadlines.uploadIdleMs);
      socket.on('timeout', cut);
    } else {
      timer = setTimeout(cut, deadlines.bodyMs);
      timer.unref();
    }
    req.once('end', done);
    res.once('close', done);
  });
}
