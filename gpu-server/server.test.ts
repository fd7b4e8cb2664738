import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../shared/model/random';
import { SplitSession } from '../shared/split';
import { createBackend } from './backend';
import { connect, sessionUrl } from './client';
import { startServer, type RunningServer } from './server';
import { testToken, TEST_SECRET } from './testing/fixtures';
import { encodeFrame } from '../shared/protocol/frame';
import { PROTOCOL_VERSION } from '../shared/protocol/messages';

const model = randomModel(tinyConfig(), 5);

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the base-model server', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer({ model, name: 'test-model', backend: await createBackend(model, 'reference'), secret: TEST_SECRET, port: 0, idleTimeoutMs: 300 });
  });
  afterAll(() => server.close());

  const open = async () => SplitSession.open(await connect(server.url), { token: await testToken(), mode: 'inference', maxContext: 16, config: model.config });

  it('frees the memory of a client that vanishes without closing', async () => {
    const ws = new WebSocket(sessionUrl(server.url));
    await new Promise((r) => ws.once('open', r));
    ws.send(encodeFrame({ type: 'open', v: PROTOCOL_VERSION, token: await testToken(), mode: 'inference', maxContext: 16, taps: [], promptTokens: 0 }));
    await until(() => server.engine.sessions.size === 1);
    ws.terminate();
    await until(() => server.engine.sessions.size === 0);
  });

  it('ends an idle session with an "expired" error frame', async () => {
    const session = await open();
    await session.forward([1, 2]);
    await new Promise((r) => setTimeout(r, 800));
    await expect(session.forward([3])).rejects.toMatchObject({ code: 'expired' });
    expect(server.engine.sessions.size).toBe(0);
  });

  it('answers unknown routes and methods with JSON errors', async () => {
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/v1/info`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${server.url}/v1/tokenizer`)).status).toBe(404);
  });
});
