import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { connect } from '../../gpu-server/client';
import { channelPair, webSocketChannel, type FrameChannel, type WebSocketLike } from './channel';
import { decodeFrame, encodeFrame } from './frame';

const LIMIT = 1 << 24;
/** A tap exchange's sizes: x [1, 512] one way, two modules' changes back; and a logits row. */
const SIZES = [512, 768, 3, 40_000];

function frames(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => encodeFrame({ type: 'x', i }, { t: Float32Array.from({ length: SIZES[i % SIZES.length] }, (_, k) => i + k / 8) }));
}

function collect(channel: FrameChannel, n: number): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  return new Promise((resolve) => channel.onFrame((bytes) => got.push(bytes) === n && resolve(got)));
}

function expectSame(got: Uint8Array[], sent: Uint8Array[]): void {
  expect(got.map((b) => Buffer.from(b).toString('base64'))).toEqual(sent.map((b) => Buffer.from(b).toString('base64')));
}

describe('webSocketChannel over a real ws socket', () => {
  let server: WebSocketServer;
  let serverSide: Promise<FrameChannel>;
  let serverSocket: WebSocketLike | undefined;
  let client: FrameChannel;

  beforeAll(async () => {
    server = new WebSocketServer({ port: 0 });
    serverSide = new Promise((resolve) => server.once('connection', (ws) => resolve(webSocketChannel((serverSocket = ws as unknown as WebSocketLike)))));
    await new Promise((resolve) => server.once('listening', resolve));
    client = await connect(`ws://127.0.0.1:${(server.address() as { port: number }).port}/v1/session`);
  });

  afterAll(async () => {
    client.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('delivers frames sent back to back byte for byte both ways, at any alignment', async () => {
    const peer = await serverSide;
    const sent = frames(40);
    const atServer = collect(peer, sent.length);
    for (const f of sent) client.send(f);
    const received = await atServer;
    expectSame(received, sent);
    const atClient = collect(client, sent.length);
    for (const f of sent) peer.send(f);
    const echoed = await atClient;
    expectSame(echoed, sent);
    // A message after a 2- or 10-byte WebSocket header in the same read is unaligned: copied.
    for (const [i, bytes] of [...received, ...echoed].entries()) {
      expect(decodeFrame(bytes, LIMIT).tensors.get('t')!.data[1]).toBe((i % sent.length) + 1 / 8);
    }
  });

  it('the frames of a tap exchange arrive aligned: their tensors are views, not copies', async () => {
    const peer = await serverSide;
    // Node's ws hands over views of its fresh read buffers; 'arraybuffer' would copy each message.
    expect(serverSocket!.binaryType).toBe('nodebuffer');
    peer.onFrame((bytes) => peer.send(encodeFrame({ type: 'tap_result' }, { q: new Float32Array(512), v: decodeFrame(bytes, LIMIT).tensors.get('x')!.data })));
    for (let i = 0; i < 20; i++) {
      const answer = collect(client, 1);
      client.send(encodeFrame({ type: 'tap', i }, { x: Float32Array.from({ length: 256 }, (_, k) => i + k) }));
      const [bytes] = await answer;
      const v = decodeFrame(bytes, LIMIT).tensors.get('v')!.data;
      expect(v[3]).toBe(i + 3);
      expect(v.buffer).toBe(bytes.buffer);
    }
  });
});

describe('either kind of channel', () => {
  it('has one receiver: a later onFrame replaces the earlier', async () => {
    const server = new WebSocketServer({ port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    const accepted = new Promise<FrameChannel>((resolve) => server.once('connection', (ws) => resolve(webSocketChannel(ws as unknown as WebSocketLike))));
    const client = await connect(`ws://127.0.0.1:${(server.address() as { port: number }).port}/v1/session`);
    const [a, b] = channelPair();
    for (const [from, to] of [[client, await accepted], [a, b]]) {
      const first: Uint8Array[] = [];
      to.onFrame((bytes) => first.push(bytes));
      const second = collect(to, 1);
      from.send(encodeFrame({ type: 'x' }));
      expect(decodeFrame((await second)[0], LIMIT).header).toEqual({ type: 'x' });
      expect(first).toEqual([]);
    }
    client.close();
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('channelPair', () => {
  it('hands the receiver bytes of its own', async () => {
    const [a, b] = channelPair();
    const sent = encodeFrame({ type: 'x' }, { t: Float32Array.from([1, 2]) });
    const got = collect(b, 1);
    a.send(sent);
    sent.fill(0);
    const [bytes] = await got;
    expect(Array.from(decodeFrame(bytes, LIMIT).tensors.get('t')!.data)).toEqual([1, 2]);
  });
});
