import type { Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorBody } from '@encedeus/contracts';

/**
 * Answers what Node's HTTP parser refuses before Express sees it (headers or URL over the 16 KiB
 * limit, malformed request lines) in the `{ error, code }` format too; Node's own answer has no body.
 */
export function answerClientErrorsAsJson(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // Nothing can be written to a connection that is gone or already answering.
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body: ErrorBody = {
      error: status === 431 ? 'The URL or headers of the request are too large' : status === 408 ? 'The request took too long to arrive' : 'The request is malformed',
      code: 'BAD_REQUEST',
    };
    const json = JSON.stringify(body);
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`);
  });
}
