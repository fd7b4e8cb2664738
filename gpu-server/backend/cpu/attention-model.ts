/**
 * Causal grouped-query attention and its backward as ONNX graphs, so that onnxruntime's batched
 * MatMul (MLAS) does what JavaScript loops did at ~0.2 GFLOP/s: at a training step's 64 rows of
 * the 110m shape (12 heads of 64) the backward's five [64×64×64] products per head cost ~31
 * MFLOP a layer — ~35 ms in JavaScript, about a millisecond here.
 *
 * Inputs are the engine's layouts, so nothing is transposed in JavaScript:
 *   q [rows, nHeads·headDim] (after RoPE), k, v [keys, nKvHeads·headDim] (keys = pos0 + rows),
 *   mask [rows, keys]: 0 where row r may see key j (j ≤ pos0 + r), −∞ elsewhere (additive).
 * Heads are viewed as [nKvHeads, group, …] with group = nHeads / nKvHeads, so the query heads of
 * one kv head share its K and V by broadcasting (never copied), and dk, dv sum over the group.
 *
 *   forward   S = scale·Q·Kᵀ + mask;  P = softmax(S);  out = P·V
 *   backward  dP = dO·Vᵀ;  dS = scale·P⊙(dP − Σⱼ P⊙dP);  dq = dS·K;  dk = Σ_group dSᵀ·Q;  dv = Σ_group Pᵀ·dO
 */
import { model, type GraphSpec, type NodeSpec } from './onnx-writer';

export interface AttentionDims {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

const int64 = (...values: number[]) => BigInt64Array.from(values, BigInt);

/** Shapes, axes and the scale, fixed per model: those the nodes use (onnxruntime warns of the rest). */
function constants({ nHeads, nKvHeads, headDim }: AttentionDims, nodes: NodeSpec[]): GraphSpec['initializers'] {
  const group = nHeads / nKvHeads;
  const used = new Set(nodes.flatMap((n) => n.inputs));
  const all = [
    { name: 'queryHeads', dims: [4], data: int64(-1, nKvHeads, group, headDim) }, // [rows, kvHeads, group, d]
    { name: 'kvHeads', dims: [4], data: int64(-1, nKvHeads, 1, headDim) }, // [keys, kvHeads, 1, d]
    { name: 'queryRows', dims: [2], data: int64(-1, nHeads * headDim) },
    { name: 'kvRows', dims: [2], data: int64(-1, nKvHeads * headDim) },
    { name: 'lastAxis', dims: [1], data: int64(-1) },
    { name: 'groupAxis', dims: [1], data: int64(1) },
    { name: 'scale', dims: [], data: Float32Array.of(1 / Math.sqrt(headDim)) },
  ];
  return all.filter((c) => used.has(c.name));
}

const node = (op: string, inputs: string[], output: string, intAttrs?: NodeSpec['intAttrs']): NodeSpec => ({ op, inputs, outputs: [output], intAttrs });

/** [rows, heads·d] → [kvHeads, group, rows, d] (queries, dO), and K, Kᵀ, V, Vᵀ as [kvHeads, 1, keys|d, d|keys]. */
function heads(name: string, shape: 'queryHeads' | 'kvHeads', perm: number[]): NodeSpec[] {
  return [node('Reshape', [name, shape], `${name}4`), node('Transpose', [`${name}4`], `${name}H`, { perm })];
}

/** P = softmax(scale·Q·Kᵀ + mask) [kvHeads, group, rows, keys], from qH and kT. */
const probabilities: NodeSpec[] = [
  node('MatMul', ['qH', 'kT'], 'S0'),
  node('Mul', ['S0', 'scale'], 'S1'),
  node('Add', ['S1', 'mask'], 'S'),
  node('Softmax', ['S'], 'P', { axis: -1 }),
];

/** [kvHeads, group, rows, d] → [rows, nHeads·d]. */
const toRows = (from: string, to: string): NodeSpec[] => [node('Transpose', [from], `${from}R`, { perm: [2, 0, 1, 3] }), node('Reshape', [`${from}R`, 'queryRows'], to)];

/** [kvHeads, group, keys, d] summed over the group → [keys, nKvHeads·d]. */
const toKvRows = (from: string, to: string): NodeSpec[] => [
  node('ReduceSum', [from, 'groupAxis'], `${from}S`, { keepdims: 0 }),
  node('Transpose', [`${from}S`], `${from}R`, { perm: [1, 0, 2] }),
  node('Reshape', [`${from}R`, 'kvRows'], to),
];

const inputs = (dims: AttentionDims, withGradient: boolean): GraphSpec['inputs'] => [
  { name: 'q', dims: ['rows', dims.nHeads * dims.headDim] },
  { name: 'k', dims: ['keys', dims.nKvHeads * dims.headDim] },
  { name: 'v', dims: ['keys', dims.nKvHeads * dims.headDim] },
  { name: 'mask', dims: ['rows', 'keys'] },
  ...(withGradient ? [{ name: 'dOut', dims: ['rows', dims.nHeads * dims.headDim] }] : []),
];

const QUERY = [1, 2, 0, 3]; // [rows, kvHeads, group, d] → [kvHeads, group, rows, d]
const TRANSPOSED = [1, 2, 3, 0]; // [keys, kvHeads, 1, d] → [kvHeads, 1, d, keys]

/** out [rows, nHeads·headDim] = attention(q, k, v) under the mask. */
export function attentionModel(dims: AttentionDims): Uint8Array {
  const nodes = [...heads('q', 'queryHeads', QUERY), ...heads('k', 'kvHeads', TRANSPOSED).map(rename('kH', 'kT')), ...heads('v', 'kvHeads', QUERY), ...probabilities, node('MatMul', ['P', 'vH'], 'O'), ...toRows('O', 'out')];
  return model({
    name: 'attention',
    nodes,
    initializers: constants(dims, nodes),
    inputs: inputs(dims, false),
    outputs: [{ name: 'out', dims: ['rows', dims.nHeads * dims.headDim] }],
  });
}

/** dq [rows, nHeads·headDim], dk, dv [keys, nKvHeads·headDim] from dOut, recomputing P. */
export function attentionBackwardModel(dims: AttentionDims): Uint8Array {
  const kvDim = dims.nKvHeads * dims.headDim;
  const nodes = [
    ...heads('q', 'queryHeads', QUERY),
    ...heads('dOut', 'queryHeads', QUERY),
    ...heads('k', 'kvHeads', QUERY),
    node('Transpose', ['k4'], 'kT', { perm: TRANSPOSED }),
    ...heads('v', 'kvHeads', TRANSPOSED).map(rename('vH', 'vT')),
    ...probabilities,
    // dS = scale · P ⊙ (dP − Σⱼ P⊙dP), dP = dO·Vᵀ
    node('MatMul', ['dOutH', 'vT'], 'dP'),
    node('Mul', ['P', 'dP'], 'PdP'),
    node('ReduceSum', ['PdP', 'lastAxis'], 'rowDot', { keepdims: 1 }),
    node('Sub', ['dP', 'rowDot'], 'dPc'),
    node('Mul', ['P', 'dPc'], 'dS0'),
    node('Mul', ['dS0', 'scale'], 'dS'),
    node('MatMul', ['dS', 'kH'], 'dQ'),
    ...toRows('dQ', 'dq'),
    node('Transpose', ['dS'], 'dSt', { perm: [0, 1, 3, 2] }),
    node('MatMul', ['dSt', 'qH'], 'dK'),
    ...toKvRows('dK', 'dk'),
    node('Transpose', ['P'], 'Pt', { perm: [0, 1, 3, 2] }),
    node('MatMul', ['Pt', 'dOutH'], 'dV'),
    ...toKvRows('dV', 'dv'),
  ];
  return model({
    name: 'attention-backward',
    nodes,
    initializers: constants(dims, nodes),
    inputs: inputs(dims, true),
    outputs: [
      { name: 'dq', dims: ['rows', dims.nHeads * dims.headDim] },
      { name: 'dk', dims: ['keys', kvDim] },
      { name: 'dv', dims: ['keys', kvDim] },
    ],
  });
}

/** Renames a node's output (heads() names its result `${name}H`). */
function rename(from: string, to: string): (n: NodeSpec) => NodeSpec {
  return (n) => ({ ...n, outputs: n.outputs.map((o) => (o === from ? to : o)) });
}

/** The additive causal mask [rows, pos0 + rows]: row r sees keys 0 … pos0 + r. */
export function causalMask(rows: number, pos0: number): Float32Array {
  const keys = pos0 + rows;
  const mask = new Float32Array(rows * keys);
  for (let r = 0; r < rows; r++) mask.fill(-Infinity, r * keys + pos0 + r + 1, (r + 1) * keys);
  return mask;
}
