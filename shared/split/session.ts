/**
 * SplitSession: the client side of one split-execution session. It opens the session with a
 * token and the adapter's tap plan, sends steps, and answers every tap the server pauses at
 * with the adapter's math (AdapterTaps). The same code runs in the edge worker, in the
 * tenant's trainer, and in tests (over an in-process channel).
 */
import type { ModelConfig } from '../model/types';
import type { Grads, ModuleName, TapAdapter } from '../adapters/taps';
import type { FrameChannel } from '../protocol/channel';
import { decodeFrame, encodeFrame, type Frame } from '../protocol/frame';
import { describeIssues, PROTOCOL_VERSION, ServerMessageSchema, type Sampling, type ServerMessage } from '../protocol/messages';
import { TapPlan } from '../protocol/plan';
import { AdapterTaps, planFromAdapter } from './adapter-taps';

export class SplitError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export interface OpenOptions {
  token: string;
  mode: 'inference' | 'training';
  maxContext: number;
  config: ModelConfig;
  adapter?: TapAdapter;
  sampling?: Partial<Sampling>;
  /** Largest frame accepted from the server, bytes. */
  maxFrameBytes?: number;
}

export interface StepResult {
  token?: number;
  logprob?: number;
  topLogprobs?: { token: number; logprob: number }[];
  loss?: number;
  lossTokens?: number;
  position: number;
  logits?: Float32Array;
}

type Pending = { resolve: (f: { msg: ServerMessage; frame: Frame }) => void; reject: (e: Error) => void };

export class SplitSession {
  private pending?: Pending;
  private failure?: Error;
  private seq = 0;
  private readonly taps?: AdapterTaps;
  private readonly plan: TapPlan;
  private readonly maxFrameBytes: number;
  sessionId = '';

  private constructor(private readonly channel: FrameChannel, private readonly opts: OpenOptions) {
    this.plan = new TapPlan(opts.config, planFromAdapter(opts.adapter, opts.config));
    this.maxFrameBytes = opts.maxFrameBytes ?? 256 * 1024 * 1024;
    if (opts.adapter) this.taps = new AdapterTaps(opts.adapter, opts.config, opts.mode === 'training');
    channel.onFrame((bytes) => this.receive(bytes));
    channel.onClose((reason) => this.fail(new SplitError('closed', `connection to the base-model server closed: ${reason}`)));
  }

  static async open(channel: FrameChannel, opts: OpenOptions): Promise<SplitSession> {
    const s = new SplitSession(channel, opts);
    const prompt = opts.adapter?.promptEmbeddings;
    const promptTokens = prompt ? prompt.length / opts.config.dim : 0;
    const header = { type: 'open', v: PROTOCOL_VERSION, token: opts.token, mode: opts.mode, maxContext: opts.maxContext, taps: s.plan.entries, promptTokens, ...(opts.sampling ? { sampling: opts.sampling } : {}) };
    const { msg } = await s.request(encodeFrame(header, prompt ? { prompt: { data: Float32Array.from(prompt), shape: [promptTokens, opts.config.dim] } } : {}));
    if (msg.type !== 'opened') throw new SplitError('bad_response', `expected "opened", got "${msg.type}"`);
    s.sessionId = msg.session;
    return s;
  }

  /** Inference: appends tokens (a prefill, or one decode token) and returns the sampled next token. */
  async forward(tokens: readonly number[], opts: { logprobs?: number; returnLogits?: boolean } = {}): Promise<StepResult> {
    const seq = this.seq++;
    const header = { type: 'forward', seq, logprobs: opts.logprobs ?? 0, returnLogits: opts.returnLogits ?? false };
    return this.result(seq, await this.request(encodeFrame(header, { tokens: Int32Array.from(tokens) })));
  }

  /** Training: one whole sequence → mean masked loss; the server keeps what backward needs. */
  async trainForward(tokens: readonly number[], targets: readonly number[], mask: readonly number[]): Promise<StepResult> {
    const seq = this.seq++;
    this.taps?.reset({ grads: false });
    const frame = encodeFrame({ type: 'forward', seq }, { tokens: Int32Array.from(tokens), targets: Int32Array.from(targets), mask: Float32Array.from(mask) });
    return this.result(seq, await this.request(frame));
  }

  /** Training: backward of the last trainForward; the adapter's gradients are ADDED to `grads` (accumulation). */
  async backward(): Promise<{ grads: Grads; promptGrad?: Float32Array }> {
    const seq = this.seq - 1;
    const { msg, frame } = await this.request(encodeFrame({ type: 'backward', seq }));
    if (msg.type !== 'backward_result') throw new SplitError('bad_response', `expected "backward_result", got "${msg.type}"`);
    this.taps?.reset({ grads: false });
    return { grads: this.taps?.grads ?? new Map(), promptGrad: frame.tensors.get('prompt')?.data as Float32Array | undefined };
  }

  /** Clears the accumulated adapter gradients (after an optimizer step). */
  zeroGrad(): void {
    this.taps?.reset({ grads: true });
  }

  close(): void {
    try {
      this.channel.send(encodeFrame({ type: 'close' }));
    } catch {
      // already closed
    }
    this.channel.close('client closed the session');
    this.fail(new SplitError('closed', 'session closed'));
  }

  private result(seq: number, { msg, frame }: { msg: ServerMessage; frame: Frame }): StepResult {
    if (msg.type !== 'result' || msg.seq !== seq) throw new SplitError('bad_response', `expected the result of step ${seq}, got "${msg.type}"`);
    const { type: _t, seq: _s, ...rest } = msg;
    const logits = frame.tensors.get('logits')?.data as Float32Array | undefined;
    return logits ? { ...rest, logits } : rest;
  }

  private request(frame: Uint8Array): Promise<{ msg: ServerMessage; frame: Frame }> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new SplitError('busy', 'a step is already in flight on this session'));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.channel.send(frame);
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(e);
  }

  private receive(bytes: Uint8Array): void {
    let frame: Frame;
    let msg: ServerMessage;
    try {
      frame = decodeFrame(bytes, this.maxFrameBytes);
      const parsed = ServerMessageSchema.safeParse(frame.header);
      if (!parsed.success) throw new SplitError('bad_frame', `server sent an invalid message: ${describeIssues(parsed.error)}`);
      msg = parsed.data;
    } catch (e) {
      this.fail(e instanceof SplitError ? e : new SplitError('bad_frame', (e as Error).message));
      this.channel.close('bad frame from server');
      return;
    }
    if (msg.type === 'tap') return this.answerTap(msg, frame);
    if (msg.type === 'error') {
      this.fail(new SplitError(msg.code, msg.message));
      return;
    }
    const p = this.pending;
    this.pending = undefined;
    p?.resolve({ msg, frame });
  }

  private answerTap(msg: Extract<ServerMessage, { type: 'tap' }>, frame: Frame): void {
    try {
      if (!this.taps) throw new SplitError('bad_request', 'the server paused at a tap, but this session has no adapter');
      const modules = this.plan.at(msg.layer, msg.tap, msg.form).map((e) => e.module);
      const tensor = (name: string) => frame.tensors.get(name)?.data as Float32Array | undefined;
      let out: Record<string, Float32Array> = {};
      const deferred: (() => void)[] = [];
      if (msg.phase === 'forward') {
        const x = tensor('x');
        if (!x) throw new SplitError('bad_frame', 'tap frame without its input "x"');
        const y0: Partial<Record<ModuleName, Float32Array>> = {};
        for (const m of modules) if (tensor(`${m}.y0`)) y0[m] = tensor(`${m}.y0`);
        out = this.taps.forward({ layer: msg.layer, tap: msg.tap, form: msg.form, rows: msg.rows, x, y0 }, modules) as Record<string, Float32Array>;
      } else {
        const grads: Partial<Record<ModuleName, Float32Array>> = {};
        for (const m of modules) if (tensor(m)) grads[m] = tensor(m);
        const answer = this.taps.backward({ layer: msg.layer, tap: msg.tap, form: msg.form, rows: msg.rows, grads }, (work) => deferred.push(work));
        out = { ...(answer.grads as Record<string, Float32Array>) };
        if (msg.form === 'output') out = Object.fromEntries(Object.entries(out).map(([k, v]) => [`${k}.dy0`, v]));
        if (answer.dx) out.dx = answer.dx;
      }
      this.channel.send(encodeFrame({ type: 'tap_result', seq: msg.seq, layer: msg.layer, tap: msg.tap, phase: msg.phase }, out));
      // The parameter gradients, after the answer is on its way: the server goes on meanwhile.
      // Still within this frame's handling, so before the backward's result can arrive.
      for (const work of deferred) work();
    } catch (e) {
      this.fail(e instanceof SplitError ? e : new SplitError('adapter', (e as Error).message));
      this.channel.close(`client failed at a tap: ${(e as Error).message}`);
    }
  }
}
