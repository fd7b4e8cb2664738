/**
 * The server's forward pass of one session's step: the reference layer (shared/reference) with
 * its linear layers run by the batcher, across sessions, and the tenant's adapter reached
 * through the tap exchange. It pauses only at planned taps: a session without an adapter
 * never leaves the server.
 */
import type { ModelConfig, ModelWeights } from '../../shared/model/types';
import type { ModuleName, TapName } from '../../shared/adapters/taps';
import { add, concatRows, gather, rmsnorm, siluMul } from '../../shared/reference/ops';
import { ropeF32 as rope } from '../backend/fastops';
import type { Batcher } from './batcher';
import { joinColumns, splitColumns } from './columns';
import { checkTensor, type ForwardTapAnswer, type TapExchange } from '../../shared/protocol/exchange';
import { moduleDims, TAP_GROUP } from '../../shared/model/dims';
import type { EngineSession } from './session';

export interface StepContext {
  config: ModelConfig;
  /** Only the small per-layer vectors (norms) and the embedding table are read here; matrices live in the backend. */
  weights: ModelWeights;
  /** Every backend op goes through it: the linear groups and attention, gathered across sessions. */
  batcher: Batcher;
  exchange: TapExchange;
  session: EngineSession;
}

/** What a training step keeps of one layer for its backward (cf. shared/reference LayerActivations). */
export interface LayerTrace {
  h: Float32Array; // [rows, dim]       layer input
  q: Float32Array; // [rows, qDim]      queries after RoPE
  hMid: Float32Array; // [rows, dim]    h + o
  g: Float32Array; // [rows, hiddenDim] gate after the adapter
  u: Float32Array; // [rows, hiddenDim] up after the adapter
}

/**
 * A tap's weight group: the frozen outputs of all its modules in one batched op, and the
 * adapter's output-form changes — asked for at the same time where no module needs y0, after
 * the GEMM where one does (an input-form module's replacement input comes first of all).
 * x [rows, in] → one output [rows, out] per module of the tap.
 */
async function group(ctx: StepContext, layer: number, tap: TapName, x: Float32Array, rows: number): Promise<Partial<Record<ModuleName, Float32Array>>> {
  const { group: weightGroup, modules } = TAP_GROUP[tap];
  const { plan } = ctx.session;
  let input = x;
  const replace = plan.at(layer, tap, 'input');
  if (replace.length > 0) {
    const module = replace[0].module;
    const answer = await ctx.exchange.forward({ layer, tap, form: 'input', rows, x, y0: {} });
    input = checkTensor(`layer ${layer} ${module} replacement input`, answer[module], x.length);
  }
  const planned = plan.at(layer, tap, 'output');
  const frozen = async () => {
    const fused = await ctx.batcher.linear(layer, weightGroup, input, rows);
    const parts = splitColumns(fused, rows, modules.map((m) => moduleDims(ctx.config, m).outDim));
    const outs: Partial<Record<ModuleName, Float32Array>> = {};
    modules.forEach((m, i) => (outs[m] = parts[i]));
    return outs;
  };
  if (planned.length === 0) return frozen();
  let outs: Partial<Record<ModuleName, Float32Array>>;
  let answer: ForwardTapAnswer;
  if (planned.some((e) => e.needsBaseOutput)) {
    outs = await frozen();
    const y0: Partial<Record<ModuleName, Float32Array>> = {};
    for (const e of planned) if (e.needsBaseOutput) y0[e.module] = outs[e.module];
    answer = await ctx.exchange.forward({ layer, tap, form: 'output', rows, x, y0 });
  } else {
    // No module needs y0 (LoRA): the tenant's change and the frozen GEMM are computed at once.
    [outs, answer] = await Promise.all([frozen(), ctx.exchange.forward({ layer, tap, form: 'output', rows, x, y0: {} })]);
  }
  for (const e of planned) {
    const delta = checkTensor(`layer ${layer} ${e.module} output change`, answer[e.module], rows * moduleDims(ctx.config, e.module).outDim);
    outs[e.module] = add(outs[e.module]!, delta);
  }
  return outs;
}

/** h [rows, dim] at positions pos0… → h'' [rows, dim], appending K, V to the session's cache. */
async function layerForward(ctx: StepContext, layer: number, h: Float32Array, rows: number, pos0: number, trace?: LayerTrace[]): Promise<Float32Array> {
  const { dim, nHeads, nKvHeads, headDim, ropeTheta, rmsNormEps } = ctx.config;
  const w = ctx.weights.layers[layer];
  const kvDim = nKvHeads * headDim;

  // attention
  const x = rmsnorm(h, w.attnNorm, rows, dim, rmsNormEps) as Float32Array; // [rows, dim]
  const qkv = await group(ctx, layer, 'attn.in', x, rows);
  const q = rope(qkv.q_proj!, rows, nHeads, headDim, pos0, ropeTheta); // [rows, qDim]
  const k = rope(qkv.k_proj!, rows, nKvHeads, headDim, pos0, ropeTheta); // [rows, kvDim]
  const kv = ctx.session.kv.layers[layer];
  kv.k.set(k, pos0 * kvDim);
  kv.v.set(qkv.v_proj!, pos0 * kvDim);
  const a = await ctx.batcher.attention({ q, k: kv.k, v: kv.v, shape: { rows, pos0, nHeads, nKvHeads, headDim } }); // [rows, qDim]
  const { o_proj: o } = await group(ctx, layer, 'attn.out', a, rows); // [rows, dim]
  const hMid = add(h, o!); // [rows, dim]

  // feed-forward (SwiGLU)
  const x2 = rmsnorm(hMid, w.mlpNorm, rows, dim, rmsNormEps) as Float32Array; // [rows, dim]
  const { gate_proj: g, up_proj: u } = await group(ctx, layer, 'mlp.in', x2, rows); // [rows, hiddenDim] each
  const m = siluMul(g!, u!); // [rows, hiddenDim]
  const { down_proj: d } = await group(ctx, layer, 'mlp.out', m, rows); // [rows, dim]

  trace?.push({ h, q, hMid, g: g!, u: u! });
  return add(hMid, d!);
}

/**
 * Runs `tokens` appended to the session's cache (virtual prompt tokens first when the cache is
 * empty) → the final hidden states of the real tokens [tokens, dim], normalised by the final norm.
 */
export async function forwardStep(ctx: StepContext, tokens: Int32Array, trace?: LayerTrace[]): Promise<{ xf: Float32Array; hReal: Float32Array }> {
  const { dim, nLayers, rmsNormEps, vocabSize } = ctx.config;
  const { session } = ctx;
  for (const t of tokens) if (t < 0 || t >= vocabSize) throw new RangeError(`token id ${t} is outside the vocabulary [0, ${vocabSize})`);
  const first = session.kv.length === 0;
  const nVirtual = first ? session.promptTokens : 0;
  const rows = nVirtual + tokens.length;
  if (session.kv.length + rows > session.kv.maxSeq) {
    throw new RangeError(`context overflow: ${session.kv.length} positions used + ${rows} new > the session's ${session.kv.maxSeq}`);
  }
  const emb = gather(ctx.weights.embed, Array.from(tokens), dim) as Float32Array; // [tokens, dim]
  let h = nVirtual > 0 ? (concatRows(session.prompt!, emb) as Float32Array) : emb; // [rows, dim]
  const pos0 = session.kv.length;
  for (let l = 0; l < nLayers; l++) h = await layerForward(ctx, l, h, rows, pos0, trace);
  session.kv.length = pos0 + rows;
  const hReal = h.subarray(nVirtual * dim);
  return { xf: rmsnorm(hReal, ctx.weights.finalNorm, tokens.length, dim, rmsNormEps) as Float32Array, hReal };
}

/** Joins per-module gradients of a tap's group in the fused column order (zeros for none). */
export function joinGroup(ctx: StepContext, tap: TapName, rows: number, parts: Partial<Record<ModuleName, Float32Array>>): Float32Array {
  return joinColumns(
    TAP_GROUP[tap].modules.map((m) => parts[m] ?? new Float32Array(rows * moduleDims(ctx.config, m).outDim)),
    rows,
  );
}
