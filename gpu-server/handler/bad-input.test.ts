/**
 * Bad input over the wire, in process: every malformed, unauthorized, over-limit or
 * out-of-place message ends its own session with a typed error frame and a closed channel,
 * frees that session's memory, and leaves every other session on the engine untouched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../../shared/model/random';
import { channelPair } from '../../shared/protocol/channel';
import { decodeFrame, encodeFrame, type Frame } from '../../shared/protocol/frame';
import { PROTOCOL_VERSION, ServerMessageSchema, type ErrorCode, type TapPlanEntry } from '../../shared/protocol/messages';
import { SplitSession } from '../../shared/split';
import { createBackend } from '../backend';
import type { Backend } from '../backend/types';
import { WebGpuBackend } from '../backend/webgpu/index';
import { Engine } from '../engine';
import { testAdapters, testToken, TEST_SECRET } from '../testing/fixtures';
import { Connection } from './index';

const model = randomModel(tinyConfig(), 7);
const { vocabSize, dim } = model.config;
const lora = testAdapters(model).lora;
const Q_TAP: TapPlanEntry = { layer: 0, module: 'q_proj', form: 'output', needsBaseOutput: false };
const qOut = model.config.nHeads * model.config.headDim;

let backend: Backend;
let engine: Engine;
const usedTokens = new Map<string, number>();
let tenantCounter = 0;
/** A tenant of its own for each use, so scenarios running together never share caps. */
const freshTenant = (what: string) => `${what}-${tenantCounter++}`;

type Tensors = Parameters<typeof encodeFrame>[1];

/** The client end of a connection, driven by hand: raw frames out, decoded frames in. */
class RawClient {
  readonly errors: ErrorCode[] = [];
  private readonly frames: Frame[] = [];
  private readonly waiters: ((f: Frame) => void)[] = [];
  readonly closed: Promise<string>;
  private readonly client;

  constructor() {
    const [client, server] = channelPair();
    this.client = client;
    new Connection(server, { engine, secret: TEST_SECRET, maxFrameBytes: 1 << 16, usedTokens, onError: (code) => this.errors.push(code) });
    client.onFrame((bytes) => {
      const frame = decodeFrame(bytes, 1 << 24);
      const w = this.waiters.shift();
      if (w) w(frame);
      else this.frames.push(frame);
    });
    this.closed = new Promise((resolve) => client.onClose(resolve));
  }

  send(header: object, tensors: Tensors = {}): void {
    this.client.send(encodeFrame(header, tensors));
  }

  sendBytes(bytes: Uint8Array): void {
    this.client.send(bytes);
  }

  close(): void {
    this.client.close('client went away');
  }

  get buffered(): number {
    return this.frames.length;
  }

  /** The next frame from the server; rejects if the channel closes first. */
  next(): Promise<Frame> {
    const frame = this.frames.shift();
    if (frame) return Promise.resolve(frame);
    return Promise.race([
      new Promise<Frame>((resolve) => this.waiters.push(resolve)),
      this.closed.then((reason): Frame => {
        throw new Error(`channel closed without a frame: ${reason}`);
      }),
    ]);
  }

  /** Sends an open message (inference, maxContext 16, no taps unless overridden). */
  async open(token: string | Promise<string>, over: Record<string, unknown> = {}): Promise<void> {
    this.send({ type: 'open', v: PROTOCOL_VERSION, token: await token, mode: 'inference', maxContext: 16, taps: [], ...over });
  }

  /** Opens and expects "opened". */
  async opened(token: string | Promise<string>, over: Record<string, unknown> = {}): Promise<Frame> {
    await this.open(token, over);
    const f = await this.next();
    expect(f.header, JSON.stringify(f.header)).toMatchObject({ type: 'opened', v: PROTOCOL_VERSION, vocabSize, dim });
    return f;
  }

  /** Expects an error frame with this code and a message matching `message`, then the channel closed. */
  async expectError(code: ErrorCode, message: RegExp): Promise<void> {
    const f = await this.next();
    const msg = ServerMessageSchema.parse(f.header);
    expect(msg, JSON.stringify(msg)).toMatchObject({ type: 'error', code });
    expect(msg.type === 'error' && msg.message).toMatch(message);
    expect(f.tensors.size).toBe(0);
    await this.closed;
    expect(this.errors).toEqual([code]); // reported once, even when a paused step fails after it
    expect(this.buffered).toBe(0); // nothing after the error
    expect(() => this.send({ type: 'close' })).toThrow(/closed/);
  }
}

/** A connection paused at the layer-0 q_proj tap of its first inference step (rows: 3). */
async function pausedAtTap(): Promise<{ c: RawClient; tap: Frame; session: string }> {
  const c = new RawClient();
  const session = (await c.opened(testToken(freshTenant('tap')), { taps: [Q_TAP] })).header.session as string;
  c.send({ type: 'forward', seq: 0 }, { tokens: Int32Array.from([1, 4, 9]) });
  const tap = await c.next();
  expect(tap.header).toEqual({ type: 'tap', seq: 0, layer: 0, tap: 'attn.in', phase: 'forward', form: 'output', rows: 3 });
  expect(tap.tensors.get('x')!.data.length).toBe(3 * dim);
  expect(engine.sessions.get(session)?.busy).toBe(true);
  return { c, tap, session };
}

const tapAnswer = { type: 'tap_result', seq: 0, layer: 0, tap: 'attn.in', phase: 'forward' };

/** Each scenario drives one connection to its error and checks it. */
const scenarios: Record<string, () => Promise<void>> = {
  'garbage bytes → bad_frame': async () => {
    const c = new RawClient();
    c.sendBytes(Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]));
    await c.expectError('bad_frame', /frame header of \d+ bytes exceeds/);
  },
  'a frame over maxFrameBytes → bad_frame': async () => {
    const c = new RawClient();
    c.send({ type: 'forward', seq: 0 }, { tokens: new Int32Array(1 << 15) });
    await c.expectError('bad_frame', /exceeds the limit of 65536/);
  },
  'a header that is no client message → bad_frame naming the field': async () => {
    const c = new RawClient();
    c.send({ type: 'close', foo: 1 });
    await c.expectError('bad_frame', /unsupported field "foo"/);
  },
  'forward before open → bad_request': async () => {
    const c = new RawClient();
    c.send({ type: 'forward', seq: 0 }, { tokens: Int32Array.from([1]) });
    await c.expectError('bad_request', /"forward" before "open"/);
  },
  'open with a missing token → unauthorized': async () => {
    const c = new RawClient();
    c.send({ type: 'open', v: PROTOCOL_VERSION, mode: 'inference', maxContext: 16, taps: [] });
    await c.expectError('unauthorized', /token/);
  },
  'open with an empty token → unauthorized': async () => {
    const c = new RawClient();
    await c.open('');
    await c.expectError('unauthorized', /token/);
  },
  'open with a token that is not one → unauthorized': async () => {
    const c = new RawClient();
    await c.open('hello');
    await c.expectError('unauthorized', /token must be two base64url parts/);
  },
  'open with an expired token → unauthorized': async () => {
    const c = new RawClient();
    await c.open(testToken(freshTenant('expired'), {}, TEST_SECRET, -5));
    await c.expectError('unauthorized', /token has expired/);
  },
  'open with tampered claims → unauthorized': async () => {
    const [, sig] = (await testToken(freshTenant('tamper'))).split('.');
    const claims = { tenant: 'other', exp: Math.floor(Date.now() / 1000) + 600, jti: 'x'.repeat(16), limits: { maxSessions: 999, maxContext: 64, maxMemoryBytes: 1 << 30 } };
    const c = new RawClient();
    await c.open(`${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`);
    await c.expectError('unauthorized', /token signature is invalid/);
  },
  'open with a token signed by another secret → unauthorized': async () => {
    const c = new RawClient();
    await c.open(testToken(freshTenant('secret'), {}, 'some-other-secret-0123456'));
    await c.expectError('unauthorized', /token signature is invalid/);
  },
  'a token used again after its session closed → unauthorized': async () => {
    const token = await testToken(freshTenant('replay'));
    const first = new RawClient();
    await first.opened(token);
    first.send({ type: 'close' });
    await first.closed;
    expect(first.errors).toEqual([]);
    const again = new RawClient();
    await again.open(token);
    await again.expectError('unauthorized', /already used/);
  },
  'a second open on an open session → bad_request': async () => {
    const c = new RawClient();
    await c.opened(testToken(freshTenant('twice')));
    await c.open(testToken(freshTenant('twice')));
    await c.expectError('bad_request', /already open/);
  },
  "maxContext over the token's limit → limit_exceeded": async () => {
    const c = new RawClient();
    await c.open(testToken(freshTenant('ctx'), { maxContext: 8 }), { maxContext: 9 });
    await c.expectError('limit_exceeded', /maxContext 9 exceeds the tenant's limit of 8/);
  },
  "maxContext over the model's context → bad_request": async () => {
    const c = new RawClient();
    await c.open(testToken(freshTenant('model-ctx'), { maxContext: 1000 }), { maxContext: model.config.maxSeqLen + 1 });
    await c.expectError('bad_request', /exceeds the model's context of 64/);
  },
  'more sessions than maxSessions for a tenant → limit_exceeded; closing one makes room': async () => {
    const tenant = freshTenant('sessions');
    const a = new RawClient();
    const b = new RawClient();
    await a.opened(testToken(tenant, { maxSessions: 2 }));
    await b.opened(testToken(tenant, { maxSessions: 2 }));
    const c = new RawClient();
    await c.open(testToken(tenant, { maxSessions: 2 }));
    await c.expectError('limit_exceeded', /already has 2 open sessions \(limit 2\)/);
    a.close(); // a disconnect without a "close" message frees the slot too
    await a.closed;
    const d = new RawClient();
    await d.opened(testToken(tenant, { maxSessions: 2 }));
    b.send({ type: 'close' });
    d.send({ type: 'close' });
    await Promise.all([b.closed, d.closed]);
  },
  'maxMemoryBytes too small for the KV cache → limit_exceeded': async () => {
    const c = new RawClient();
    await c.open(testToken(freshTenant('memory'), { maxMemoryBytes: 1000 }));
    await c.expectError('limit_exceeded', /bytes of KV cache; the tenant uses 0 of its 1000/);
  },
  'a tap plan with a layer out of range → bad_request': async () => {
    const c = new RawClient();
    await c.open(testToken(freshTenant('plan')), { taps: [{ ...Q_TAP, layer: model.config.nLayers }] });
    await c.expectError('bad_request', /layer 2 does not exist \(the model has 2\)/);
  },
  'a tap plan listing a module twice → bad_request': async () => {
    const c = new RawClient();
    await c.open(testToken(freshTenant('plan')), { taps: [Q_TAP, Q_TAP] });
    await c.expectError('bad_request', /listed twice/);
  },
  'token ids out of the vocabulary → bad_request': async () => {
    for (const bad of [vocabSize, -1]) {
      const c = new RawClient();
      await c.opened(testToken(freshTenant('vocab')));
      c.send({ type: 'forward', seq: 0 }, { tokens: Int32Array.from([1, bad]) });
      await c.expectError('bad_request', new RegExp(`token id ${bad} is outside the vocabulary \\[0, ${vocabSize}\\)`));
    }
  },
  'tokens as f32 → bad_frame': async () => {
    const c = new RawClient();
    await c.opened(testToken(freshTenant('dtype')));
    c.send({ type: 'forward', seq: 0 }, { tokens: Float32Array.from([1, 2]) });
    await c.expectError('bad_frame', /tensor "tokens" must be i32, got f32/);
  },
  'tokens missing, empty or 2-D → bad_frame': async () => {
    const cases: [Tensors, RegExp][] = [
      [{}, /tensor "tokens" is missing/],
      [{ tokens: new Int32Array(0) }, /tensor "tokens" has shape \[0\], expected a non-empty vector/],
      [{ tokens: { data: Int32Array.from([1, 2]), shape: [1, 2] } }, /tensor "tokens" has shape \[1,2\]/],
    ];
    for (const [tensors, message] of cases) {
      const c = new RawClient();
      await c.opened(testToken(freshTenant('shape')));
      c.send({ type: 'forward', seq: 0 }, tensors);
      await c.expectError('bad_frame', message);
    }
  },
  'an unknown extra tensor → bad_frame': async () => {
    for (const name of ['extra', 'constructor', 'toString', 'targets']) {
      const c = new RawClient();
      await c.opened(testToken(freshTenant('extra')));
      c.send({ type: 'forward', seq: 0 }, { tokens: Int32Array.from([1, 2]), [name]: Int32Array.from([3, 4]) });
      await c.expectError('bad_frame', new RegExp(`unexpected tensor "${name}"`));
    }
  },
  'a step number that does not advance → bad_request': async () => {
    const c = new RawClient();
    await c.opened(testToken(freshTenant('seq')));
    c.send({ type: 'forward', seq: 3 }, { tokens: Int32Array.from([1]) });
    expect((await c.next()).header).toMatchObject({ type: 'result', seq: 3 });
    c.send({ type: 'forward', seq: 3 }, { tokens: Int32Array.from([1]) });
    await c.expectError('bad_request', /step 3 is not after step 3/);
  },
  'a training step with targets on an inference session → bad_frame; NaN in a loss mask → bad_frame': async () => {
    const c = new RawClient();
    await c.opened(testToken(freshTenant('train')));
    c.send({ type: 'forward', seq: 0 }, { tokens: Int32Array.from([1, 2]), targets: Int32Array.from([2, 3]), mask: Float32Array.from([1, 1]) });
    await c.expectError('bad_frame', /unexpected tensor "targets"/);
    const t = new RawClient();
    await t.opened(testToken(freshTenant('train')), { mode: 'training' });
    t.send({ type: 'forward', seq: 0 }, { tokens: Int32Array.from([1, 2]), targets: Int32Array.from([2, 3]), mask: Float32Array.from([1, NaN]) });
    await t.expectError('bad_frame', /tensor "mask" contains NaN or Inf at element 1/);
  },
  'a loss mask entry other than 0 or 1 → bad_request, naming it': async () => {
    const t = new RawClient();
    await t.opened(testToken(freshTenant('mask')), { mode: 'training' });
    t.send({ type: 'forward', seq: 0 }, { tokens: Int32Array.from([1, 2]), targets: Int32Array.from([2, 3]), mask: Float32Array.from([1, 0.5]) });
    await t.expectError('bad_request', /mask\[1\] must be 0 or 1, got 0\.5/);
  },
  'context overflow → bad_request': async () => {
    const c = new RawClient();
    await c.opened(testToken(freshTenant('overflow')), { maxContext: 4 });
    c.send({ type: 'forward', seq: 0 }, { tokens: Int32Array.from([1, 2, 3, 4, 5]) });
    await c.expectError('bad_request', /context overflow: 0 positions used \+ 5 new > the session's 4/);
    const d = new RawClient();
    await d.opened(testToken(freshTenant('overflow')), { maxContext: 4 });
    d.send({ type: 'forward', seq: 0 }, { tokens: Int32Array.from([1, 2, 3]) });
    expect((await d.next()).header).toMatchObject({ type: 'result', seq: 0, position: 3 });
    d.send({ type: 'forward', seq: 1 }, { tokens: Int32Array.from([1, 2]) });
    await d.expectError('bad_request', /context overflow: 3 positions used \+ 2 new > the session's 4/);
  },
  'paused at a tap: a tap_result for the wrong layer → bad_request': async () => {
    const { c } = await pausedAtTap();
    c.send({ ...tapAnswer, layer: 1 }, { q_proj: new Float32Array(3 * qOut) });
    await c.expectError('bad_request', /tap_result for step 0 layer 1 attn\.in \(forward\), but the server waits at step 0 layer 0 attn\.in \(forward\)/);
  },
  'paused at a tap: a tap_result for the wrong tap or step → bad_request': async () => {
    const a = await pausedAtTap();
    a.c.send({ ...tapAnswer, tap: 'mlp.in' }, { q_proj: new Float32Array(3 * qOut) });
    await a.c.expectError('bad_request', /but the server waits at step 0 layer 0 attn\.in/);
    const b = await pausedAtTap();
    b.c.send({ ...tapAnswer, seq: 1 }, { q_proj: new Float32Array(3 * qOut) });
    await b.c.expectError('bad_request', /tap_result for step 1/);
  },
  'paused at a tap: NaN or Inf in the delta → bad_frame': async () => {
    for (const bad of [NaN, Infinity]) {
      const { c } = await pausedAtTap();
      const delta = new Float32Array(3 * qOut);
      delta[5] = bad;
      c.send(tapAnswer, { q_proj: delta });
      await c.expectError('bad_frame', /layer 0 q_proj output change contains NaN or Inf at element 5/);
    }
  },
  'paused at a tap: a delta of the wrong size, dtype, or missing → bad_frame': async () => {
    const cases: [Tensors, RegExp][] = [
      [{ q_proj: new Float32Array(3 * qOut - 1) }, new RegExp(`q_proj output change has ${3 * qOut - 1} elements, expected ${3 * qOut}`)],
      [{ q_proj: new Int32Array(3 * qOut) }, /tensor "q_proj" must be f32/],
      [{}, /q_proj output change is missing/],
      [{ q_proj: new Float32Array(3 * qOut), k_proj: new Float32Array(3 * 8) }, /unexpected tensor "k_proj"/],
      [{ q_proj: new Float32Array(3 * qOut), constructor: new Float32Array(1) }, /unexpected tensor "constructor"/],
    ];
    for (const [tensors, message] of cases) {
      const { c } = await pausedAtTap();
      c.send(tapAnswer, tensors);
      await c.expectError('bad_frame', message);
    }
  },
  'paused at a tap: another forward → bad_request': async () => {
    const { c } = await pausedAtTap();
    c.send({ type: 'forward', seq: 1 }, { tokens: Int32Array.from([1]) });
    await c.expectError('bad_request', /a step is already running/);
  },
  'a tap_result while not paused → bad_request': async () => {
    const c = new RawClient();
    await c.opened(testToken(freshTenant('nopause')), { taps: [Q_TAP] });
    c.send(tapAnswer, { q_proj: new Float32Array(3 * qOut) });
    await c.expectError('bad_request', /not paused at a tap/);
  },
  'a backward tap answer with an unknown tensor, or a dL/dy0 for a module sent no y0 → bad_frame': async () => {
    for (const name of ['k_proj.dy0', 'constructor.dy0', 'q_proj', 'q_proj.dy0']) {
      const c = new RawClient();
      await c.opened(testToken(freshTenant('backward')), { mode: 'training', taps: [Q_TAP] });
      c.send({ type: 'forward', seq: 0 }, { tokens: Int32Array.from([1, 2]), targets: Int32Array.from([2, 3]), mask: Float32Array.from([1, 1]) });
      expect((await c.next()).header).toMatchObject({ type: 'tap', phase: 'forward', rows: 2 });
      c.send({ ...tapAnswer }, { q_proj: new Float32Array(2 * qOut) });
      expect((await c.next()).header).toMatchObject({ type: 'result', seq: 0, lossTokens: 2 });
      c.send({ type: 'backward', seq: 0 });
      const tap = await c.next();
      expect(tap.header).toMatchObject({ type: 'tap', phase: 'backward', layer: 0, tap: 'attn.in', form: 'output', rows: 2 });
      expect(tap.tensors.get('q_proj')!.data.length).toBe(2 * qOut);
      c.send({ ...tapAnswer, phase: 'backward' }, { [name]: new Float32Array(2 * qOut) });
      const message = name === 'q_proj.dy0' ? /layer 0 q_proj: a dL\/dy0 was sent, but the module was sent no y0/ : new RegExp(`unexpected tensor "${name.replace('.', '\\.')}" in a backward tap_result`);
      await c.expectError('bad_frame', message);
    }
  },
  'a client that disconnects while paused at a tap frees its session': async () => {
    const { c, session } = await pausedAtTap();
    c.close();
    await c.closed;
    expect(engine.sessions.has(session)).toBe(false);
    expect(c.errors).toEqual([]);
  },
};

// webgpu (lavapipe) too: its activations live on the device, where a failed step must free its tensors itself.
describe.each(['reference', 'webgpu'] as const)('bad input ends only its own session (%s backend)', (kind) => {
  let survivor: SplitSession;
  const survivorTokens: number[] = [];
  const prompt = [1, 5, 9, 2, 30];

  beforeAll(async () => {
    backend = await createBackend(model, kind, { weights: 'f32' });
    engine = new Engine(model, backend, { maxBatchRows: 256 });
    const [client, server] = channelPair();
    new Connection(server, { engine, secret: TEST_SECRET, maxFrameBytes: 1 << 20, usedTokens });
    survivor = await SplitSession.open(client, { token: await testToken('survivor'), mode: 'inference', maxContext: 48, config: model.config, adapter: lora });
    survivorTokens.push((await survivor.forward(prompt)).token!);
  });
  afterAll(() => backend.dispose());

  it('a by-hand tap answer of zeros gives the base model\'s token (the harness drives taps right)', async () => {
    const { c } = await pausedAtTap();
    c.send(tapAnswer, { q_proj: new Float32Array(3 * qOut) });
    const result = await c.next();
    expect(result.header).toMatchObject({ type: 'result', seq: 0, position: 3 });
    const plain = new RawClient();
    await plain.opened(testToken(freshTenant('plain')));
    plain.send({ type: 'forward', seq: 0 }, { tokens: Int32Array.from([1, 4, 9]) });
    expect((await plain.next()).header.token).toBe(result.header.token);
    c.send({ type: 'close' });
    plain.send({ type: 'close' });
    await Promise.all([c.closed, plain.closed]);
    expect(engine.sessions.size).toBe(1);
  });

  it.each(Object.keys(scenarios))('%s', async (name) => {
    await scenarios[name]();
    expect(engine.sessions.size).toBe(1); // only the survivor: every failed session was freed
  });

  it('a session opened before keeps working through all of them at once, and gives what a fresh session gives', async () => {
    const decode = async () => {
      for (let i = 0; i < 8; i++) survivorTokens.push((await survivor.forward([survivorTokens[survivorTokens.length - 1]])).token!);
    };
    await Promise.all([decode(), ...Object.values(scenarios).map((run) => run())]);
    expect(engine.sessions.size).toBe(1);

    const [client, server] = channelPair();
    new Connection(server, { engine, secret: TEST_SECRET, maxFrameBytes: 1 << 20, usedTokens });
    const fresh = await SplitSession.open(client, { token: await testToken('fresh'), mode: 'inference', maxContext: 48, config: model.config, adapter: lora });
    const freshTokens = [(await fresh.forward(prompt)).token!];
    for (let i = 0; i < 8; i++) freshTokens.push((await fresh.forward([freshTokens[freshTokens.length - 1]])).token!);
    expect(survivorTokens).toHaveLength(9);
    expect(survivorTokens).toEqual(freshTokens);
    expect(new Set(freshTokens).size).toBeGreaterThan(1); // not a degenerate sequence

    fresh.close();
    survivor.close();
    await new Promise((r) => setTimeout(r, 0));
    expect(engine.sessions.size).toBe(0);
    // Every tensor of every failed step and closed session is gone from the device.
    if (backend instanceof WebGpuBackend) expect(backend.activations.work.liveTensors).toBe(0);
  });
});
