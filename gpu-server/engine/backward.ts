/**
 * The server's backward pass of a training step: the frozen path's input gradients, batched
 * across sessions like the forward, with the tenant's adapter answering at each tap in
 * reverse order. The server never computes a weight gradient: the base is frozen.
 */
import type { ModuleName, TapName } from '../../shared/adapters/taps';
import { checkTensor, TapAnswerError, type BackwardTapAnswer } from '../../shared/protocol/exchange';
import { both, joinGroup, type LayerTrace, type StepContext } from './forward';
import { moduleDims, TAP_GROUP } from '../../shared/model/dims';

const unaskedDy0 = (layer: number, module: string) => new TapAnswerError(`layer ${layer} ${module}: a dL/dy0 was sent, but the module was sent no y0`);

/** dL/dy of every module of a tap → dL/dx of the tap's input [rows, in]. */
async function groupBackward<T>(ctx: StepContext<T>, layer: number, tap: TapName, dy: Partial<Record<ModuleName, T>>, rows: number): Promise<T> {
  const { group, modules } = TAP_GROUP[tap];
  const { plan } = ctx.session;
  const { ops } = ctx;
  const dxLength = rows * moduleDims(ctx.config, modules[0]).inDim;
  const inputForm = plan.at(layer, tap, 'input');
  if (inputForm.length > 0) {
    const module = inputForm[0].module;
    const dxPrime = await ctx.batcher.linearBackward(layer, group, joinGroup(ctx, tap, rows, dy), rows, ops);
    const answer = await ctx.exchange.backward({ layer, tap, form: 'input', rows, grads: { [module]: await ops.read(dxPrime) } });
    return ops.upload(checkTensor(`layer ${layer} ${module} input gradient`, answer.grads[module], dxLength));
  }
  const planned = plan.at(layer, tap, 'output');
  if (planned.length === 0) return ctx.batcher.linearBackward(layer, group, joinGroup(ctx, tap, rows, dy), rows, ops);

  // Read at once: on a device, one submit for all of them.
  const read = await Promise.all(planned.map((e) => ops.read(dy[e.module]!)));
  const sent: Partial<Record<ModuleName, Float32Array>> = Object.fromEntries(planned.map((e, i) => [e.module, read[i]]));
  const exchange = () => ctx.exchange.backward({ layer, tap, form: 'output', rows, grads: sent });
  let dx: T;
  let answer: BackwardTapAnswer;
  if (planned.some((e) => e.needsBaseOutput)) {
    answer = await exchange();
    const dy0 = { ...dy };
    for (const e of planned) {
      const given = answer.grads[e.module];
      if (given && !e.needsBaseOutput) throw unaskedDy0(layer, e.module);
      if (given) dy0[e.module] = ops.upload(checkTensor(`layer ${layer} ${e.module} dL/dy0`, given, rows * moduleDims(ctx.config, e.module).outDim));
    }
    dx = await ctx.batcher.linearBackward(layer, group, joinGroup(ctx, tap, rows, dy0), rows, ops);
  } else {
    // No module was sent y0 (LoRA), so dL/dy0 = dL/dy: the frozen path's GEMM and the tenant's
    // backward are computed at once.
    [dx, answer] = await both(ctx.batcher.linearBackward(layer, group, joinGroup(ctx, tap, rows, dy), rows, ops), exchange());
    const stray = Object.keys(answer.grads);
    if (stray.length > 0) throw unaskedDy0(layer, stray[0]);
  }
  if (answer.dx) dx = ops.add(dx, ops.upload(checkTensor(`layer ${layer} ${tap} adapter dL/dx`, answer.dx, dxLength)));
  return dx;
}

/** dL/dh'' [rows, dim] → dL/dh [rows, dim] through one decoder layer. */
async function layerBackward<T>(ctx: StepContext<T>, layer: number, dOut: T, t: LayerTrace<T>, rows: number): Promise<T> {
  const { dim, nHeads, nKvHeads, headDim, ropeTheta, rmsNormEps } = ctx.config;
  const { ops } = ctx;
  const w = ctx.weights.layers[layer];

  // feed-forward: h'' = h' + d, d = m·Wdownᵀ, m = silu(g) ⊙ u
  const dm = await groupBackward(ctx, layer, 'mlp.out', { down_proj: dOut }, rows); // [rows, hiddenDim]
  const { dg, du } = ops.siluMulBackward(dm, t.g, t.u); // [rows, hiddenDim] each
  const dx2 = await groupBackward(ctx, layer, 'mlp.in', { gate_proj: dg, up_proj: du }, rows); // [rows, dim]
  const dhMid = ops.add(dOut, ops.rmsnormBackward(dx2, t.hMid, w.mlpNorm, rows, dim, rmsNormEps)); // [rows, dim]

  // attention: h' = h + o, o = a·Woᵀ, a = attention(rope(q), rope(k), v)
  const da = await groupBackward(ctx, layer, 'attn.out', { o_proj: dhMid }, rows); // [rows, qDim]
  const kv = ctx.session.kv.layers[layer];
  const { dq, dk, dv } = await ctx.batcher.attentionBackward({ dOut: da, q: t.q, k: kv.k, v: kv.v, shape: { rows, pos0: 0, nHeads, nKvHeads, headDim } }, ops);
  const dq0 = ops.ropeBackward(dq, rows, nHeads, headDim, 0, ropeTheta); // [rows, qDim]
  const dk0 = ops.ropeBackward(dk, rows, nKvHeads, headDim, 0, ropeTheta); // [rows, kvDim]
  const dx = await groupBackward(ctx, layer, 'attn.in', { q_proj: dq0, k_proj: dk0, v_proj: dv }, rows); // [rows, dim]
  return ops.add(dhMid, ops.rmsnormBackward(dx, t.h, w.attnNorm, rows, dim, rmsNormEps));
}

/** dL/dh of the last layer's output [rows, dim] → dL/d(input embeddings) [rows, dim]. */
export async function backwardStep<T>(ctx: StepContext<T>, dhFinal: T, trace: LayerTrace<T>[], rows: number): Promise<T> {
  let dh = dhFinal;
  const start = ctx.ops.mark();
  for (let l = ctx.config.nLayers - 1; l >= 0; l--) {
    dh = await layerBackward(ctx, l, dh, trace[l], rows);
    ctx.ops.freeSince(start, [dh]);
  }
  return dh;
}
