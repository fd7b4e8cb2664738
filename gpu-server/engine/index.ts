/**
 * The engine: every session of every tenant on one frozen model. It admits sessions within
 * their tenant's caps, runs their steps through the shared batcher, and accounts for memory.
 */
import type { Model } from '../../shared/model/types';
import type { TokenClaims } from '../../shared/protocol/token';
import type { TapPlanEntry } from '../../shared/protocol/messages';
import type { SamplingParams } from '../../shared/reference/sampling';
import type { Backend } from '../backend/types';
import type { ActivationBackend, ActivationScope } from '../backend/activations';
import { HostActivations } from '../backend/host-activations';
import { Batcher, type BatchObserver } from './batcher';
import { composedTrainingHead } from '../backend/head';
import { backwardStep } from './backward';
import type { TapExchange } from '../../shared/protocol/exchange';
import { forwardStep, traced, type LayerTrace, type StepContext } from './forward';
import { EngineSession, StepError } from './session';
import { TapPlan } from '../../shared/protocol/plan';
import { topIndices } from '../../shared/util/top';

export { EngineSession, StepError } from './session';
export { PlanError, TapPlan } from '../../shared/protocol/plan';
export type { TapExchange } from '../../shared/protocol/exchange';

export class LimitError extends Error {}

export interface EngineOptions {
  maxBatchRows: number;
  onBatch?: BatchObserver;
}

export interface InferenceResult {
  token: number;
  logprob?: number;
  topLogprobs?: { token: number; logprob: number }[];
  logits?: Float32Array; // [rows, vocab] when asked
}

export class Engine {
  readonly batcher: Batcher<unknown>;
  readonly sessions = new Map<string, EngineSession>();
  private readonly limits = new Map<string, TokenClaims['limits']>();
  /** The backend's activations: its own where it keeps them on a device, else host arrays. */
  private readonly activations: ActivationBackend<unknown>;
  private nextId = 1;

  /** Freed activation memory the backend keeps for reuse (/metrics). */
  get pooledActivationBytes(): number {
    return this.activations.pooledBytes;
  }

  constructor(readonly model: Model, readonly backend: Backend, opts: EngineOptions) {
    this.activations = (backend.activations ?? new HostActivations(backend)) as ActivationBackend<unknown>;
    this.batcher = new Batcher(this.activations, model.config, opts.maxBatchRows, opts.onBatch);
  }

  tenantSessions(tenant: string): EngineSession[] {
    return [...this.sessions.values()].filter((s) => s.tenant === tenant);
  }

  tenantMemory(tenant: string): number {
    return this.tenantSessions(tenant).reduce((n, s) => n + s.memoryBytes, 0);
  }

  /** Admits a session within the tenant's caps from its token; throws LimitError or PlanError. */
  open(claims: TokenClaims, req: { mode: 'inference' | 'training'; maxContext: number; taps: TapPlanEntry[]; prompt?: Float32Array; sampling?: SamplingParams }): EngineSession {
    const { limits, tenant } = claims;
    if (req.maxContext > limits.maxContext) throw new LimitError(`maxContext ${req.maxContext} exceeds the tenant's limit of ${limits.maxContext}`);
    const open = this.tenantSessions(tenant).length;
    if (open >= limits.maxSessions) throw new LimitError(`tenant already has ${open} open sessions (limit ${limits.maxSessions})`);
    const plan = new TapPlan(this.model.config, req.taps);
    const session = new EngineSession(this.model.config, { id: `s${this.nextId++}`, tenant, mode: req.mode, maxContext: req.maxContext, plan, prompt: req.prompt, sampling: req.sampling }, this.activations.scope());
    const used = this.tenantMemory(tenant);
    if (used + session.memoryBytes > limits.maxMemoryBytes) {
      session.release();
      throw new LimitError(`session needs ${session.memoryBytes} bytes of KV cache; the tenant uses ${used} of its ${limits.maxMemoryBytes}`);
    }
    this.sessions.set(session.id, session);
    this.limits.set(session.id, limits);
    return session;
  }

  close(session: EngineSession): void {
    session.release();
    this.sessions.delete(session.id);
    this.limits.delete(session.id);
  }

  private context(session: EngineSession, exchange: TapExchange, ops: ActivationScope<unknown>): StepContext<unknown> {
    return { config: this.model.config, weights: this.model.weights, batcher: this.batcher, exchange, session, ops };
  }

  /** Inference: appends tokens to the cache and samples the next token from the last row. */
  async infer(session: EngineSession, exchange: TapExchange, tokens: Int32Array, opts: { logprobs: number; returnLogits: boolean }): Promise<InferenceResult> {
    if (session.mode !== 'inference') throw new StepError('this is a training session: send targets and a loss mask');
    return session.step(async () => {
      const ops = this.activations.scope();
      try {
        return await this.inferIn(ops, session, exchange, tokens, opts);
      } finally {
        ops.release();
      }
    });
  }

  private async inferIn(ops: ActivationScope<unknown>, session: EngineSession, exchange: TapExchange, tokens: Int32Array, opts: { logprobs: number; returnLogits: boolean }): Promise<InferenceResult> {
    const { vocabSize, dim } = this.model.config;
    const { xf } = await forwardStep(this.context(session, exchange, ops), tokens);
    const rows = opts.returnLogits ? tokens.length : 1;
    const lastRows = rows === tokens.length ? xf : ops.slice(xf, (tokens.length - rows) * dim, tokens.length * dim);
    const logits = await ops.read(await this.batcher.linear(0, 'lmHead', lastRows, rows, ops)); // [rows, vocab]
    const last = logits.subarray((rows - 1) * vocabSize);
    const token = session.sampler.sample(last);
    const result: InferenceResult = { token };
    if (opts.logprobs > 0) {
      // Log-probabilities cost a pass over the vocabulary and a heap of the k best: only when asked.
      const logp = logSoftmax(last);
      result.logprob = logp[token];
      result.topLogprobs = topIndices(logp, opts.logprobs).map((t) => ({ token: t, logprob: logp[t] }));
    }
    if (opts.returnLogits) result.logits = logits;
    return result;
  }

  /** Training forward: one whole sequence from position 0 → mean masked loss; keeps what backward needs. */
  async trainForward(session: EngineSession, exchange: TapExchange, tokens: Int32Array, targets: Int32Array, mask: Float32Array, opts: { returnLogits: boolean }): Promise<{ loss: number; lossTokens: number; logits?: Float32Array }> {
    if (session.mode !== 'training') throw new StepError('this is an inference session: it takes no targets');
    const { vocabSize } = this.model.config;
    const n = tokens.length;
    if (targets.length !== n || mask.length !== n) throw new StepError(`${n} tokens but ${targets.length} targets and ${mask.length} mask entries`);
    for (const t of targets) if (t < 0 || t >= vocabSize) throw new StepError(`target id ${t} is outside the vocabulary [0, ${vocabSize})`);
    // Checked here, not only by the loss: a bad mask must not cost a whole forward first.
    mask.forEach((m, r) => {
      if (m !== 0 && m !== 1) throw new StepError(`mask[${r}] must be 0 or 1, got ${m}`);
    });
    const lossTokens = mask.reduce((a, m) => a + m, 0);
    if (lossTokens === 0) throw new StepError('the loss mask selects no position');

    const { dim, rmsNormEps } = this.model.config;
    return session.step(async () => {
      // Check the activations this step will keep against the tenant's budget before doing the work.
      session.dropTrace();
      const rows = session.promptTokens + n;
      const traceBytes = this.traceBytes(rows);
      const limit = this.limits.get(session.id)!.maxMemoryBytes;
      const used = this.tenantMemory(session.tenant);
      if (used + traceBytes > limit) {
        throw new LimitError(`a training step of ${n} tokens keeps ${traceBytes} bytes of activations; the tenant uses ${used} of its ${limit}`);
      }
      session.kv.length = 0; // training steps are whole sequences
      // The step's activations stay in this scope until its backward (or the next forward, or close).
      const ops = this.activations.scope();
      try {
        const trace: LayerTrace<unknown>[] = [];
        const { xf, hReal } = await forwardStep(this.context(session, exchange, ops), tokens, trace);
        const head = await this.trainingHead(ops, xf, targets, mask, n, opts.returnLogits);
        const dhFinal = ops.zeros(rows * dim);
        ops.write(dhFinal, ops.rmsnormBackward(head.dxf, hReal, this.model.weights.finalNorm, n, dim, rmsNormEps), session.promptTokens * dim);
        // Only what backward reads stays: what the tenant is charged for (traceBytes).
        ops.retain([...traced(trace), dhFinal]);
        session.trace = { layers: trace, rows, dhFinal, scope: ops };
        session.traceBytes = traceBytes;
        return opts.returnLogits ? { loss: head.loss, lossTokens, logits: head.logits } : { loss: head.loss, lossTokens };
      } catch (e) {
        ops.release();
        throw e;
      }
    });
  }

  /**
   * Logits, loss and dL/dxf: one op on a backend that keeps the [n, vocab] tensors on its device,
   * else the lmHead GEMMs through the batcher (shared with other sessions) and the one-pass loss
   * on the host. The trace never holds the logits.
   */
  private async trainingHead(ops: ActivationScope<unknown>, xf: unknown, targets: Int32Array, mask: Float32Array, n: number, returnLogits: boolean): Promise<{ loss: number; dxf: unknown; logits?: Float32Array }> {
    if (this.activations.trainingHead) {
      const head = await this.activations.trainingHead(xf, targets, mask, n, returnLogits);
      return { ...head, dxf: ops.adopt(head.dxf) };
    }
    const gemms = {
      linear: async (layer: number, group: 'lmHead', x: Float32Array, rows: number) => ops.read(await this.batcher.linear(layer, group, ops.upload(x), rows, ops)),
      linearBackward: async (layer: number, group: 'lmHead', dy: Float32Array, rows: number) => ops.read(await this.batcher.linearBackward(layer, group, ops.upload(dy), rows, ops)),
    };
    const head = await composedTrainingHead(gemms, this.model.config, await ops.read(xf), targets, mask, n, returnLogits);
    return { ...head, dxf: ops.upload(head.dxf) };
  }

  /** Bytes a training step of `rows` rows keeps for backward: per layer h, q, h', g, u (LayerTrace), plus dL/dh at the top. */
  private traceBytes(rows: number): number {
    const { nLayers, dim, nHeads, headDim, hiddenDim } = this.model.config;
    return 4 * rows * (nLayers * (2 * dim + nHeads * headDim + 2 * hiddenDim) + dim);
  }

  /** Training backward of the last trainForward → dL/d(virtual tokens) [promptTokens, dim] when prompt tuning. */
  async trainBackward(session: EngineSession, exchange: TapExchange): Promise<Float32Array | undefined> {
    const trace = session.trace;
    if (!trace) throw new StepError('backward needs a training forward first');
    return session.step(async () => {
      const ops = this.activations.scope();
      try {
        const dEmb = await backwardStep(this.context(session, exchange, ops), trace.dhFinal, trace.layers, trace.rows);
        return session.promptTokens > 0 ? (await ops.read(ops.slice(dEmb, 0, session.promptTokens * this.model.config.dim))).slice() : undefined;
      } finally {
        ops.release();
        session.dropTrace();
      }
    });
  }
}

/** log softmax of one row of logits, as lᵢ − max − log Σⱼ e^(lⱼ − max): finite where a probability underflows. */
function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const l of logits) if (l > max) max = l;
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - max);
  const shift = max + Math.log(sum);
  return Float64Array.from(logits, (l) => l - shift);
}
