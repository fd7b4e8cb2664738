/**
 * A FrameChannel carries binary frames between the split client and the base-model server.
 * Two kinds: a WebSocket (Node's `ws` or workerd's WebSocket, both speak the same events) and
 * an in-process pair for tests, which delivers asynchronously like a socket would.
 */
export interface FrameChannel {
  send(frame: Uint8Array): void;
  /** Registers the one receiver of incoming frames (a later call replaces it). */
  onFrame(handler: (frame: Uint8Array) => void): void;
  /** Called once when the channel closes, from either side. */
  onClose(handler: (reason: string) => void): void;
  close(reason?: string): void;
}

/** Two connected ends, in one process. */
export function channelPair(): [FrameChannel, FrameChannel] {
  const make = () => ({ frame: undefined as ((f: Uint8Array) => void) | undefined, closed: [] as ((r: string) => void)[], isClosed: false });
  const a = make();
  const b = make();
  const end = (self: ReturnType<typeof make>, peer: ReturnType<typeof make>): FrameChannel => ({
    send(frame) {
      if (self.isClosed) throw new Error('channel is closed');
      const copy = frame.slice(); // the receiver owns its bytes, as with a socket
      // Delivered even if the channel closes meanwhile: a socket delivers what was sent before
      // its close (an error frame, then the close), and the close handlers run after this.
      queueMicrotask(() => peer.frame?.(copy));
    },
    onFrame(handler) {
      self.frame = handler;
    },
    onClose(handler) {
      self.closed.push(handler);
    },
    close(reason = 'closed') {
      for (const side of [self, peer]) {
        if (side.isClosed) continue;
        side.isClosed = true;
        queueMicrotask(() => side.closed.forEach((h) => h(reason)));
      }
    },
  });
  return [end(a, b), end(b, a)];
}

/** The subset of the WebSocket API both `ws` and workerd implement. */
export interface WebSocketLike {
  binaryType: string;
  readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (e: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: (e: unknown) => void): void;
}

const OPEN = 1;

export function webSocketChannel(ws: WebSocketLike): FrameChannel {
  // Node's `ws` delivers Buffers by default: views of the socket's fresh read buffers, which its
  // 'arraybuffer' mode would copy once more per message. Anything else (a WHATWG 'blob') must
  // become an ArrayBuffer, the one binary form every runtime has.
  if (ws.binaryType !== 'nodebuffer') ws.binaryType = 'arraybuffer';
  let receiver: ((frame: Uint8Array) => void) | undefined;
  let closedHandlers: ((reason: string) => void)[] = [];
  let closed = false;
  const fireClose = (reason: string) => {
    if (closed) return;
    closed = true;
    const handlers = closedHandlers;
    closedHandlers = [];
    handlers.forEach((h) => h(reason));
  };
  ws.addEventListener('message', (e) => {
    if (e.data instanceof ArrayBuffer) receiver?.(new Uint8Array(e.data));
    else if (ArrayBuffer.isView(e.data)) receiver?.(new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength));
    else receiver?.(new TextEncoder().encode(String(e.data))); // a text frame fails decoding with a clear error
  });
  ws.addEventListener('close', (e) => fireClose(e.reason || `socket closed (${e.code})`));
  ws.addEventListener('error', () => fireClose('socket error'));
  return {
    send(frame) {
      if (ws.readyState !== OPEN) throw new Error('socket is not open');
      ws.send(frame);
    },
    onFrame(handler) {
      receiver = handler;
    },
    onClose(handler) {
      if (closed) handler('closed');
      else closedHandlers.push(handler);
    },
    close(reason = 'closed') {
      if (ws.readyState === OPEN) ws.close(1000, reason.slice(0, 120));
      fireClose(reason);
    },
  };
}
