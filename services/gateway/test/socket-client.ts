import { io, type Socket } from 'socket.io-client';

/** One socket.io message a test socket received. */
export interface Received {
  event: string;
  data: any;
}

/** A connected socket.io client as `token`, recording every message it receives. */
export async function socketAs(url: string, token: string): Promise<{ socket: Socket; received: Received[] }> {
  const socket = io(url, { path: '/socket.io', transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
  const received: Received[] = [];
  socket.onAny((event, data) => received.push({ event, data }));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return { socket, received };
}
