/**
 * A minimal ONNX ModelProto writer: just enough protobuf for the CPU backend's three graphs.
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
 * Field numbers follow onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto,
 * TensorProto, ValueInfoProto, TypeProto). IR version 8, default-domain opset 17.
 */

const FLOAT = 1; // TensorProto.DataType.FLOAT
const INT64 = 7; // TensorProto.DataType.INT64
const ATTR_INT = 2; // AttributeProto.AttributeType.INT

/**
 * Protobuf encoding without intermediate copies: a nested message's chunks are spliced into its
 * parent's list (its length is known once built), and `finish` copies every chunk once. Large
 * payloads (weights) are pushed as views, so a model costs one copy of its weights.
 */
class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): this {
    this.chunks.push(bytes);
    this.length += bytes.length;
    return this;
  }

  private varint(value: number): this {
    const bytes: number[] = [];
    let v = BigInt.asUintN(64, BigInt(value)); // a negative int64 is two's complement, as protobuf has it
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      bytes.push(byte);
    } while (v !== 0n);
    return this.push(Uint8Array.from(bytes));
  }

  int(field: number, value: number): this {
    return this.varint((field << 3) | 0).varint(value);
  }

  /** A length-delimited field whose payload is the concatenation of `parts` (pushed as views). */
  bytes(field: number, ...parts: Uint8Array[]): this {
    this.varint((field << 3) | 2).varint(parts.reduce((n, p) => n + p.length, 0));
    for (const p of parts) this.push(p);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    this.varint((field << 3) | 2).varint(inner.length);
    for (const c of inner.chunks) this.push(c);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}

type Dim = number | string; // a fixed size, or a symbolic one ("rows")

function valueInfo(w: ProtoWriter, name: string, dims: Dim[], elemType = FLOAT) {
  w.string(1, name).message(2, (type) =>
    type.message(1, (tensor) =>
      tensor.int(1, elemType).message(2, (shape) => {
        for (const d of dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      }),
    ),
  );
}

/**
 * Row blocks stacked into one matrix: [A; B; C] (e.g. Wq, Wk, Wv → the fused qkv weight). A
 * tensor's raw_data is just its bytes, so the blocks go into the model one after another
 * without ever being concatenated in memory.
 */
export type Stacked = Float32Array | readonly Float32Array[];

const blocks = (s: Stacked): readonly Float32Array[] => (s instanceof Float32Array ? [s] : s);
const elements = (s: Stacked): number => blocks(s).reduce((n, b) => n + b.length, 0);

/** A float initializer (raw little-endian bytes; onnxruntime copies them out of the model). */
function floatInitializer(w: ProtoWriter, name: string, dims: number[], data: Stacked) {
  for (const d of dims) w.int(1, d);
  w.int(2, FLOAT).string(8, name);
  w.bytes(9, ...blocks(data).map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
}

interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  intAttrs?: Record<string, number>;
}

interface GraphSpec {
  name: string;
  nodes: NodeSpec[];
  initializers?: { name: string; dims: number[]; data: Stacked }[];
  inputs: { name: string; dims: Dim[]; elemType?: number }[];
  outputs: { name: string; dims: Dim[] }[];
}

function model(g: GraphSpec): Uint8Array {
  return new ProtoWriter()
    .int(1, 8) // ir_version
    .string(2, 'symbiosis') // producer_name
    .message(8, (opset) => opset.string(1, '').int(2, 17))
    .message(7, (graph) => {
      g.nodes.forEach((n, i) =>
        graph.message(1, (node) => {
          for (const x of n.inputs) node.string(1, x);
          for (const y of n.outputs) node.string(2, y);
          node.string(3, `${n.op.toLowerCase()}${i}`).string(4, n.op);
          for (const [name, value] of Object.entries(n.intAttrs ?? {})) node.message(5, (a) => a.string(1, name).int(3, value).int(20, ATTR_INT));
        }),
      );
      graph.string(2, g.name);
      for (const t of g.initializers ?? []) graph.message(5, (w) => floatInitializer(w, t.name, t.dims, t.data));
      for (const v of g.inputs) graph.message(11, (w) => valueInfo(w, v.name, v.dims, v.elemType));
      for (const v of g.outputs) graph.message(12, (w) => valueInfo(w, v.name, v.dims));
    })
    .finish();
}

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
