/**
 * The server's forward pass of one session's step: the reference layer (shared/reference) with
 * its linear layers run by the batcher, across sessions, and the tenant's adapter reached
 * through the tap exchange. It pauses only at planned taps: a session without an adapter
 * never leaves the server. Activations are the backend's (T: host arrays, or device buffers
 * that only a tap or the sampler reads back).
 */
import type { ModelConfig, ModelWeights } from '../../shared/model/types';
import type { ModuleName, TapName } from '../../shared/adapters/taps';
import { gather } from '../../shared/reference/ops';
import type { ActivationScope } from '../backend/activations';
import type { Batcher } from './batcher';
import { checkTensor, type ForwardTapAnswer, type TapExchange } from '../../shared/protocol/exchange';
import { moduleDims, TAP_GROUP } from '../../shared/model/dims';
import type { EngineSession } from './session';

export interface StepContext<T> {
  config: ModelConfig;
  /** Only the small per-layer vectors (norms) and the embedding table are read here; matrices live in the backend. */
  weights: ModelWeights;
  /** Every backend op goes through it: the linear groups and attention, gathered across sessions. */
  batcher: Batcher<T>;
  exchange: TapExchange;
  session: EngineSession<T>;
  /** Owns this step's activations, and runs the ops between the GEMMs. */
  ops: ActivationScope<T>;
}

/** What a training step keeps of one layer for its backward (cf. shared/reference LayerActivations). */
export interface LayerTrace<T> {
  h: T; // [rows, dim]       layer input
  q: T; // [rows, qDim]      queries after RoPE
  hMid: T; // [rows, dim]    h + o
  g: T; // [rows, hiddenDim] gate after the adapter
  u: T; // [rows, hiddenDim] up after the adapter
}

/**
 * A tap's weight group: the frozen outputs of all its modules in one batched op, and the
 * adapter's output-form changes — asked for at the same time where no module needs y0, after
 * the GEMM where one does (an input-form module's replacement input comes first of all).
 * x [rows, in] → one output [rows, out] per module of the tap.
 */
async function group<T>(ctx: StepContext<T>, layer: number, tap: TapName, x: T, rows: number): Promise<Partial<Record<ModuleName, T>>> {
  const { group: weightGroup, modules } = TAP_GROUP[tap];
  const { plan } = ctx.session;
  const { ops } = ctx;
  const inDim = moduleDims(ctx.config, modules[0]).inDim;
  let input = x;
  const replace = plan.at(layer, tap, 'input');
  if (replace.length > 0) {
    const module = replace[0].module;
    const answer = await ctx.exchange.forward({ layer, tap, form: 'input', rows, x: await ops.read(x), y0: {} });
    input = ops.upload(checkTensor(`layer ${layer} ${module} replacement input`, answer[module], rows * inDim));
  }
  const planned = plan.at(layer, tap, 'output');
  const frozen = async () => {
    const fused = await ctx.batcher.linear(layer, weightGroup, input, rows, ops);
    const parts = ops.splitColumns(fused, rows, modules.map((m) => moduleDims(ctx.config, m).outDim));
    const outs: Partial<Record<ModuleName, T>> = {};
    modules.forEach((m, i) => (outs[m] = parts[i]));
    return outs;
  };
  if (planned.length === 0) return frozen();
  let outs: Partial<Record<ModuleName, T>>;
  let answer: ForwardTapAnswer;
  if (planned.some((e) => e.needsBaseOutput)) {
    outs = await frozen();
    // x and every y0 read at once: on a device, one submit for all of them.
    const needY0 = planned.filter((e) => e.needsBaseOutput).map((e) => e.module);
    const [hostX, ...hostY0] = await Promise.all([x, ...needY0.map((m) => outs[m]!)].map((t) => ops.read(t)));
    const y0 = Object.fromEntries(needY0.map((m, i) => [m, hostY0[i]]));
    answer = await ctx.exchange.forward({ layer, tap, form: 'output', rows, x: hostX, y0 });
  } else {
    // No module needs y0 (LoRA): the tenant's change and the frozen GEMM are computed at once.
    const hostX = await ops.read(x);
    [outs, answer] = await both(frozen(), ctx.exchange.forward({ layer, tap, form: 'output', rows, x: hostX, y0: {} }));
  }
  for (const e of planned) {
    const delta = checkTensor(`layer ${layer} ${e.module} output change`, answer[e.module], rows * moduleDims(ctx.config, e.module).outDim);
    outs[e.module] = ops.add(outs[e.module]!, ops.upload(delta));
  }
  return outs;
}

/**
 * Both results, once both have settled; the first failure otherwise. Unlike Promise.all it never
 * leaves one in flight: a step that failed at its tap must not end (and free its activations)
 * while its GEMM still waits in the batcher, about to be recorded on them.
 */
export async function both<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') throw ra.reason;
  if (rb.status === 'rejected') throw rb.reason;
  return [ra.value, rb.value];
}

/** h [rows, dim] at positions pos0… → h'' [rows, dim], appending K, V to the session's cache. */
async function layerForward<T>(ctx: StepContext<T>, layer: number, h: T, rows: number, pos0: number, trace?: LayerTrace<T>[]): Promise<T> {
  const { dim, nHeads, nKvHeads, headDim, ropeTheta, rmsNormEps } = ctx.config;
  const { ops } = ctx;
  const w = ctx.weights.layers[layer];
  const kvDim = nKvHeads * headDim;

  // attention
  const x = ops.rmsnorm(h, w.attnNorm, rows, dim, rmsNormEps); // [rows, dim]
  const qkv = await group(ctx, layer, 'attn.in', x, rows);
  const q = ops.rope(qkv.q_proj!, rows, nHeads, headDim, pos0, ropeTheta); // [rows, qDim]
  const k = ops.rope(qkv.k_proj!, rows, nKvHeads, headDim, pos0, ropeTheta); // [rows, kvDim]
  const kv = ctx.session.kv.layers[layer];
  ops.write(kv.k, k, pos0 * kvDim);
  ops.write(kv.v, qkv.v_proj!, pos0 * kvDim);
  const a = await ctx.batcher.attention({ q, k: kv.k, v: kv.v, shape: { rows, pos0, nHeads, nKvHeads, headDim } }, ops); // [rows, qDim]
  const { o_proj: o } = await group(ctx, layer, 'attn.out', a, rows); // [rows, dim]
  const hMid = ops.add(h, o!); // [rows, dim]

  // feed-forward (SwiGLU)
  const x2 = ops.rmsnorm(hMid, w.mlpNorm, rows, dim, rmsNormEps); // [rows, dim]
  const { gate_proj: g, up_proj: u } = await group(ctx, layer, 'mlp.in', x2, rows); // [rows, hiddenDim] each
  const m = ops.siluMul(g!, u!); // [rows, hiddenDim]
  const { down_proj: d } = await group(ctx, layer, 'mlp.out', m, rows); // [rows, dim]

  trace?.push({ h, q, hMid, g: g!, u: u! });
  return ops.add(hMid, d!);
}

/**
 * Runs `tokens` appended to the session's cache (virtual prompt tokens first when the cache is
 * empty) → the final hidden states of the real tokens [tokens, dim], normalised by the final norm.
 */
export async function forwardStep<T>(ctx: StepContext<T>, tokens: Int32Array, trace?: LayerTrace<T>[]): Promise<{ xf: T; hReal: T }> {
  const { dim, nLayers, rmsNormEps, vocabSize } = ctx.config;
  const { session } = ctx;
  for (const t of tokens) if (t < 0 || t >= vocabSize) throw new RangeError(`token id ${t} is outside the vocabulary [0, ${vocabSize})`);
  const first = session.kv.length === 0;
  const nVirtual = first ? session.promptTokens : 0;
  const rows = nVirtual + tokens.length;
  if (session.kv.length + rows > session.kv.maxSeq) {
    throw new RangeError(`context overflow: ${session.kv.length} positions used + ${rows} new > the session's ${session.kv.maxSeq}`);
  }
  const { ops } = ctx;
  const emb = ops.upload(gather(ctx.weights.embed, Array.from(tokens), dim) as Float32Array); // [tokens, dim]
  let h = nVirtual > 0 ? ops.concatRows(ops.upload(session.prompt!), emb) : emb; // [rows, dim]
  const pos0 = session.kv.length;
  const start = ops.mark();
  for (let l = 0; l < nLayers; l++) {
    h = await layerForward(ctx, l, h, rows, pos0, trace);
    ops.freeSince(start, trace ? [h, ...traced(trace)] : [h]);
  }
  session.kv.length = pos0 + rows;
  const hReal = nVirtual > 0 ? ops.slice(h, nVirtual * dim, rows * dim) : h;
  return { xf: ops.rmsnorm(hReal, ctx.weights.finalNorm, tokens.length, dim, rmsNormEps), hReal };
}

/** What a training step's trace holds, all of it kept until its backward. */
export function traced<T>(trace: readonly LayerTrace<T>[]): T[] {
  return trace.flatMap((t) => [t.h, t.q, t.hMid, t.g, t.u]);
}

/** Joins per-module gradients of a tap's group in the fused column order (zeros for none). */
export function joinGroup<T>(ctx: StepContext<T>, tap: TapName, rows: number, parts: Partial<Record<ModuleName, T>>): T {
  return ctx.ops.joinColumns(
    TAP_GROUP[tap].modules.map((m) => parts[m] ?? ctx.ops.zeros(rows * moduleDims(ctx.config, m).outDim)),
    rows,
  );
}
