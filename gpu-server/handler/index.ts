/**
 * One client connection = one session. The handler decodes and validates frames, verifies the
 * token, admits the session, runs its steps in the engine, and relays the engine's taps as tap
 * frames. Any bad input ends with a typed error frame and closes this session only; other
 * sessions never notice. Layering: handler (frames) → engine (block functions) → backend.
 */
import type { ModuleName } from '../../shared/adapters/taps';
import type { FrameChannel } from '../../shared/protocol/channel';
import type { BackwardTap, BackwardTapAnswer, ForwardTap, ForwardTapAnswer, TapExchange } from '../../shared/protocol/exchange';
import { TapAnswerError } from '../../shared/protocol/exchange';
import { decodeFrame, encodeFrame, FrameError, type Frame } from '../../shared/protocol/frame';
import { ClientMessageSchema, describeIssues, PROTOCOL_VERSION, type ClientMessage, type ErrorCode } from '../../shared/protocol/messages';
import { TokenError, verifySessionToken } from '../../shared/protocol/token';
import { Engine, LimitError, PlanError, StepError, type EngineSession } from '../engine';
import { firstNonFinite } from '../../shared/util/finite';

export interface HandlerOptions {
  engine: Engine;
  secret: string;
  maxFrameBytes: number;
  /** Token ids of closed sessions, until they expire: a token opens one session, once. */
  usedTokens: Map<string, number>;
  /** Observes each error that ends a session (metrics). */
  onError?: (code: ErrorCode) => void;
  /** Observes tokens processed per step (metrics). */
  onTokens?: (mode: 'inference' | 'training', count: number) => void;
}

class ProtocolError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

type Waiting = { seq: number; layer: number; tap: string; phase: 'forward' | 'backward'; resolve: (f: Frame) => void; reject: (e: Error) => void };

export class Connection implements TapExchange {
  session?: EngineSession;
  private waiting?: Waiting;
  private closed = false;
  private currentSeq = -1;

  constructor(private readonly channel: FrameChannel, private readonly opts: HandlerOptions) {
    channel.onFrame((bytes) => void this.receive(bytes));
    channel.onClose(() => this.release());
  }

  /** Ends the session with a typed error frame (shutdown, idle expiry, bad input). */
  fail(code: ErrorCode, message: string): void {
    if (this.closed) return;
    this.opts.onError?.(code);
    try {
      this.channel.send(encodeFrame({ type: 'error', code, message, ...(this.currentSeq >= 0 ? { seq: this.currentSeq } : {}) }));
    } catch {
      // the socket is already gone
    }
    this.channel.close(`${code}: ${message}`);
    this.release();
  }

  private release(): void {
    if (this.closed) return;
    this.closed = true;
    this.waiting?.reject(new ProtocolError('bad_request', 'session closed'));
    this.waiting = undefined;
    if (this.session) this.opts.engine.close(this.session);
  }

  private send(header: object, tensors: Parameters<typeof encodeFrame>[1] = {}): void {
    if (!this.closed) this.channel.send(encodeFrame(header, tensors));
  }

  private async receive(bytes: Uint8Array): Promise<void> {
    if (this.closed) return;
    try {
      const frame = decodeFrame(bytes, this.opts.maxFrameBytes);
      const parsed = ClientMessageSchema.safeParse(frame.header);
      if (!parsed.success) {
        // An open whose only fault is its token (missing, empty, too long) is unauthorized, not malformed.
        const tokenOnly = frame.header.type === 'open' && parsed.error.issues.every((i) => i.path[0] === 'token');
        throw new ProtocolError(tokenOnly ? 'unauthorized' : 'bad_frame', describeIssues(parsed.error));
      }
      if (this.session) this.session.lastActive = Date.now();
      await this.dispatch(parsed.data, frame);
    } catch (e) {
      this.fail(...classify(e));
    }
  }

  private async dispatch(msg: ClientMessage, frame: Frame): Promise<void> {
    if (msg.type === 'open') return this.open(msg, frame);
    if (!this.session) throw new ProtocolError('bad_request', `"${msg.type}" before "open"`);
    switch (msg.type) {
      case 'tap_result': return this.tapResult(msg, frame);
      case 'forward': return this.step(msg, frame);
      case 'backward': return this.backwardStep(msg.seq);
      case 'close':
        this.channel.close('client closed the session');
        return this.release();
    }
  }

  private async open(msg: Extract<ClientMessage, { type: 'open' }>, frame: Frame): Promise<void> {
    if (this.session) throw new ProtocolError('bad_request', 'the session is already open');
    let claims;
    try {
      claims = await verifySessionToken(msg.token, this.opts.secret);
    } catch (e) {
      throw new ProtocolError('unauthorized', (e as Error).message);
    }
    if (this.opts.usedTokens.has(claims.jti)) throw new ProtocolError('unauthorized', 'token was already used to open a session');
    const dim = this.opts.engine.model.config.dim;
    // Kept for the session's life: its own copy, not a view holding the whole message's buffer.
    const prompt = (onlyTensors(frame, msg.promptTokens > 0 ? { prompt: ['f32', [msg.promptTokens, dim]] } : {}).prompt as Float32Array | undefined)?.slice();
    if (prompt) checkFinite('prompt', prompt);
    this.session = this.opts.engine.open(claims, { mode: msg.mode, maxContext: msg.maxContext, taps: msg.taps, prompt, sampling: msg.sampling });
    this.opts.usedTokens.set(claims.jti, claims.exp);
    const { config } = this.opts.engine.model;
    this.send({ type: 'opened', v: PROTOCOL_VERSION, session: this.session.id, maxContext: msg.maxContext, vocabSize: config.vocabSize, dim: config.dim });
  }

  private beginStep(seq: number): EngineSession {
    const session = this.session!;
    if (session.busy) throw new ProtocolError('bad_request', 'a step is already running on this session');
    this.currentSeq = seq;
    return session;
  }

  private async step(msg: Extract<ClientMessage, { type: 'forward' }>, frame: Frame): Promise<void> {
    if (msg.seq <= this.session!.seq) throw new ProtocolError('bad_request', `step ${msg.seq} is not after step ${this.session!.seq}`);
    const session = this.beginStep(msg.seq);
    session.seq = msg.seq;
    const { engine } = this.opts;
    if (session.mode === 'inference') {
      const { tokens } = onlyTensors(frame, { tokens: ['i32', null] });
      const r = await engine.infer(session, this, tokens as Int32Array, msg);
      this.opts.onTokens?.('inference', tokens.length);
      this.send({ type: 'result', seq: msg.seq, position: session.kv.length, token: r.token, ...(r.logprob !== undefined ? { logprob: r.logprob, topLogprobs: r.topLogprobs } : {}) }, r.logits ? { logits: { data: r.logits, shape: [r.logits.length / engine.model.config.vocabSize, engine.model.config.vocabSize] } } : {});
      return;
    }
    const t = onlyTensors(frame, { tokens: ['i32', null], targets: ['i32', null], mask: ['f32', null] });
    checkFinite('mask', t.mask as Float32Array);
    const r = await engine.trainForward(session, this, t.tokens as Int32Array, t.targets as Int32Array, t.mask as Float32Array, msg);
    this.opts.onTokens?.('training', t.tokens.length);
    this.send({ type: 'result', seq: msg.seq, position: session.kv.length, loss: r.loss, lossTokens: r.lossTokens }, r.logits ? { logits: { data: r.logits, shape: [r.logits.length / engine.model.config.vocabSize, engine.model.config.vocabSize] } } : {});
  }

  private async backwardStep(seq: number): Promise<void> {
    if (seq !== this.session!.seq) throw new ProtocolError('bad_request', `backward of step ${seq}, but the last step was ${this.session!.seq}`);
    const session = this.beginStep(seq);
    const promptGrad = await this.opts.engine.trainBackward(session, this);
    this.send({ type: 'backward_result', seq }, promptGrad ? { prompt: { data: promptGrad, shape: [session.promptTokens, this.opts.engine.model.config.dim] } } : {});
  }

  private tapResult(msg: Extract<ClientMessage, { type: 'tap_result' }>, frame: Frame): void {
    const w = this.waiting;
    if (!w) throw new ProtocolError('bad_request', 'tap_result while the server is not paused at a tap');
    if (w.seq !== msg.seq || w.layer !== msg.layer || w.tap !== msg.tap || w.phase !== msg.phase) {
      throw new ProtocolError('bad_request', `tap_result for step ${msg.seq} layer ${msg.layer} ${msg.tap} (${msg.phase}), but the server waits at step ${w.seq} layer ${w.layer} ${w.tap} (${w.phase})`);
    }
    this.waiting = undefined;
    w.resolve(frame);
  }

  private pause(seq: number, header: { layer: number; tap: string; phase: 'forward' | 'backward'; form: string; rows: number }, tensors: Record<string, Float32Array>): Promise<Frame> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new ProtocolError('bad_request', 'session closed'));
      this.waiting = { seq, layer: header.layer, tap: header.tap, phase: header.phase, resolve, reject };
      this.send({ type: 'tap', seq, ...header }, tensors);
    });
  }

  async forward(tap: ForwardTap): Promise<ForwardTapAnswer> {
    const tensors: Record<string, Float32Array> = { x: tap.x };
    for (const [m, y] of Object.entries(tap.y0)) tensors[`${m}.y0`] = y;
    const frame = await this.pause(this.currentSeq, { layer: tap.layer, tap: tap.tap, phase: 'forward', form: tap.form, rows: tap.rows }, tensors);
    const answer = f32Tensors(frame);
    const planned = new Set<string>(this.session!.plan.at(tap.layer, tap.tap, tap.form).map((e) => e.module));
    for (const name of Object.keys(answer)) if (!planned.has(name)) throw new ProtocolError('bad_frame', `unexpected tensor "${name}" in a forward tap_result`);
    return answer as ForwardTapAnswer;
  }

  async backward(tap: BackwardTap): Promise<BackwardTapAnswer> {
    const frame = await this.pause(this.currentSeq, { layer: tap.layer, tap: tap.tap, phase: 'backward', form: tap.form, rows: tap.rows }, tap.grads as Record<string, Float32Array>);
    const all = f32Tensors(frame);
    const grads: Partial<Record<ModuleName, Float32Array>> = {};
    for (const [name, t] of Object.entries(all)) {
      if (name === 'dx') continue;
      const module = (tap.form === 'output' ? name.replace(/\.dy0$/, '') : name) as ModuleName;
      if (!Object.hasOwn(tap.grads, module) || (tap.form === 'output' && !name.endsWith('.dy0'))) throw new ProtocolError('bad_frame', `unexpected tensor "${name}" in a backward tap_result`);
      grads[module] = t;
    }
    return { dx: all.dx, grads };
  }
}

/** The frame's tensors, all f32 (answers at taps). */
function f32Tensors(frame: Frame): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, t] of frame.tensors) {
    if (t.dtype !== 'f32') throw new ProtocolError('bad_frame', `tensor "${name}" must be f32`);
    out[name] = t.data as Float32Array;
  }
  return out;
}

/** Exactly these tensors, with these dtypes and shapes (null: any 1-D length ≥ 1). */
function onlyTensors(frame: Frame, spec: Record<string, ['f32' | 'i32', number[] | null]>): Record<string, Float32Array | Int32Array> {
  for (const name of frame.tensors.keys()) if (!Object.hasOwn(spec, name)) throw new ProtocolError('bad_frame', `unexpected tensor "${name}"`);
  const out: Record<string, Float32Array | Int32Array> = {};
  for (const [name, [dtype, shape]] of Object.entries(spec)) {
    const t = frame.tensors.get(name);
    if (!t) throw new ProtocolError('bad_frame', `tensor "${name}" is missing`);
    if (t.dtype !== dtype) throw new ProtocolError('bad_frame', `tensor "${name}" must be ${dtype}, got ${t.dtype}`);
    const ok = shape ? t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]) : t.shape.length === 1 && t.shape[0] > 0;
    if (!ok) throw new ProtocolError('bad_frame', `tensor "${name}" has shape [${t.shape}], expected ${shape ? `[${shape}]` : 'a non-empty vector'}`);
    out[name] = t.data;
  }
  return out;
}

function checkFinite(name: string, t: Float32Array): void {
  const bad = firstNonFinite(t);
  if (bad >= 0) throw new ProtocolError('bad_frame', `tensor "${name}" contains NaN or Inf at element ${bad}`);
}

function classify(e: unknown): [ErrorCode, string] {
  const message = (e as Error)?.message ?? String(e);
  if (e instanceof ProtocolError) return [e.code, message];
  if (e instanceof FrameError || e instanceof TapAnswerError) return ['bad_frame', message];
  if (e instanceof TokenError) return ['unauthorized', message];
  if (e instanceof LimitError) return ['limit_exceeded', message];
  if (e instanceof PlanError || e instanceof StepError || e instanceof RangeError) return ['bad_request', message];
  return ['internal', message];
}
