/** Node-side client helpers: connect a SplitSession to a server URL over a `ws` WebSocket. */
import WebSocket from 'ws';
import { webSocketChannel, type FrameChannel, type WebSocketLike } from '../shared/protocol/channel';

/** ws://host:port/v1/session (accepts the server's http:// base URL too). */
export function sessionUrl(server: string): string {
  const url = new URL(server.replace(/^http/, 'ws'));
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/session';
  return url.toString();
}

/** The HTTP base of a server given by either URL form. */
export function httpBase(server: string): string {
  const url = new URL(server.replace(/^ws/, 'http'));
  return `${url.protocol}//${url.host}`;
}

export function connect(server: string): Promise<FrameChannel> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(sessionUrl(server));
    ws.once('open', () => resolve(webSocketChannel(ws as unknown as WebSocketLike)));
    ws.once('error', (e) => reject(new Error(`cannot reach the base-model server at ${sessionUrl(server)}: ${e.message}`)));
  });
}
