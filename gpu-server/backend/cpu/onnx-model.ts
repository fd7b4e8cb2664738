/**
 * The CPU backend's linear-layer graphs, as ONNX model bytes:
 *
 *   linearModel        Y = X·Wᵀ (+ B)       Gemm transB=1, W (and B) constant initializers, so
 *                                            onnxruntime pre-packs W once at session creation.
 *   matmulModel        Y = X·W              plain MatMul, W [in, out] a constant initializer
 *                                            (gemm-bench's bare-ORT baseline; the CPU backend's
 *                                            'prepacked' backward, dY·W with W [out, in]).
 *   dynamicBackwardModel  dX = Σᵢ dYᵢ·Wᵢ     dY split by columns into k parts (sizes a runtime
 *                                            input), each part times a runtime W part [outᵢ, in]
 *                                            as stored (no transpose), summed. One session per k
 *                                            serves every layer and group.
 *
 * The protobuf writing is onnx-writer.ts.
 */
import { elements, INT64, model, type Dim, type GraphSpec, type Stacked } from './onnx-writer';

export type { Stacked } from './onnx-writer';

function checkLength(what: string, a: Stacked, n: number, shape: string) {
  const got = elements(a);
  if (got !== n) throw new Error(`${what} has ${got} elements, expected ${shape}`);
}

/**
 * ONNX model bytes for Y[rows, out] = X[rows, in] · W[out, in]ᵀ (+ bias[out]) (Gemm, transB = 1,
 * the bias as Gemm's C). W and the bias may be given as stacked row blocks (a fused group).
 */
export function linearModel(weight: Stacked, out: number, inDim: number, bias?: Stacked): Uint8Array {
  checkLength('weight', weight, out * inDim, `${out}×${inDim}`);
  if (bias) checkLength('bias', bias, out, `${out}`);
  const initializers: GraphSpec['initializers'] = [{ name: 'W', dims: [out, inDim], data: weight }];
  if (bias) initializers.push({ name: 'B', dims: [out], data: bias });
  return model({
    name: 'linear',
    nodes: [{ op: 'Gemm', inputs: bias ? ['X', 'W', 'B'] : ['X', 'W'], outputs: ['Y'], intAttrs: { transB: 1 } }],
    initializers,
    inputs: [{ name: 'X', dims: ['rows', inDim] }],
    outputs: [{ name: 'Y', dims: ['rows', out] }],
  });
}

/** ONNX model bytes for Y[rows, out] = X[rows, in] · W[in, out] (MatMul, W a constant initializer, maybe stacked). */
export function matmulModel(weight: Stacked, inDim: number, out: number): Uint8Array {
  checkLength('weight', weight, inDim * out, `${inDim}×${out}`);
  return model({
    name: 'matmul',
    nodes: [{ op: 'MatMul', inputs: ['X', 'W'], outputs: ['Y'] }],
    initializers: [{ name: 'W', dims: [inDim, out], data: weight }],
    inputs: [{ name: 'X', dims: ['rows', inDim] }],
    outputs: [{ name: 'Y', dims: ['rows', out] }],
  });
}

/**
 * ONNX model bytes for dX[rows, in] = Σᵢ dYᵢ · Wᵢ with every tensor a runtime input:
 *   dY [rows, out] (out = Σ outᵢ), W0..W{k-1} [outᵢ, in] (the stored weights, not transposed)
 *   and, for k > 1, `splits` int64 [k] = [out0, …] — dY is cut into column blocks of those widths.
 * k = 1 is a bare MatMul. Shapes are symbolic, so one session serves every weight of k parts.
 */
export function dynamicBackwardModel(parts: number): Uint8Array {
  if (!Number.isInteger(parts) || parts < 1) throw new Error(`parts must be a positive integer, got ${parts}`);
  const weights = Array.from({ length: parts }, (_, i) => ({ name: `W${i}`, dims: [`out${i}`, 'in'] as Dim[] }));
  const inputs: GraphSpec['inputs'] = [{ name: 'dY', dims: ['rows', 'out'] }, ...weights];
  const output = { name: 'dX', dims: ['rows', 'in'] as Dim[] };
  if (parts === 1) return model({ name: 'backward1', nodes: [{ op: 'MatMul', inputs: ['dY', 'W0'], outputs: ['dX'] }], inputs, outputs: [output] });
  inputs.push({ name: 'splits', dims: [parts], elemType: INT64 });
  const pieces = weights.map((_, i) => `dY${i}`);
  const products = weights.map((_, i) => `P${i}`);
  return model({
    name: `backward${parts}`,
    nodes: [
      { op: 'Split', inputs: ['dY', 'splits'], outputs: pieces, intAttrs: { axis: 1 } },
      ...weights.map((w, i) => ({ op: 'MatMul', inputs: [pieces[i], w.name], outputs: [products[i]] })),
      { op: 'Sum', inputs: products, outputs: ['dX'] },
    ],
    inputs,
    outputs: [output],
  });
}
