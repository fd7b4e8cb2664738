/**
 * A minimal ONNX ModelProto writer: just enough protobuf for the CPU backend's graphs
 * (onnx-model.ts: the linear layers; attention-model.ts: attention and its backward).
 *
 * Field numbers follow onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto,
 * TensorProto, ValueInfoProto, TypeProto). IR version 8, default-domain opset 17.
 */

export const FLOAT = 1; // TensorProto.DataType.FLOAT
export const INT64 = 7; // TensorProto.DataType.INT64
const ATTR_INT = 2; // AttributeProto.AttributeType.INT
const ATTR_INTS = 7; // AttributeProto.AttributeType.INTS

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

export type Dim = number | string; // a fixed size, or a symbolic one ("rows")

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

export const blocks = (s: Stacked): readonly Float32Array[] => (s instanceof Float32Array ? [s] : s);
export const elements = (s: Stacked): number => blocks(s).reduce((n, b) => n + b.length, 0);

/** An initializer: raw little-endian bytes (onnxruntime copies them out of the model); int64 for shapes and axes. */
function initializer(w: ProtoWriter, name: string, dims: number[], data: Stacked | BigInt64Array) {
  for (const d of dims) w.int(1, d);
  w.int(2, data instanceof BigInt64Array ? INT64 : FLOAT).string(8, name);
  const parts = data instanceof BigInt64Array ? [data] : blocks(data);
  w.bytes(9, ...parts.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  /** Integer attributes; an array is an INTS attribute (e.g. Transpose's perm). */
  intAttrs?: Record<string, number | number[]>;
}

export interface GraphSpec {
  name: string;
  nodes: NodeSpec[];
  initializers?: { name: string; dims: number[]; data: Stacked | BigInt64Array }[];
  inputs: { name: string; dims: Dim[]; elemType?: number }[];
  outputs: { name: string; dims: Dim[] }[];
}

export function model(g: GraphSpec): Uint8Array {
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
          for (const [name, value] of Object.entries(n.intAttrs ?? {})) {
            node.message(5, (a) => {
              a.string(1, name);
              if (typeof value === 'number') {
                a.int(3, value).int(20, ATTR_INT);
                return;
              }
              for (const v of value) a.int(8, v);
              a.int(20, ATTR_INTS);
            });
          }
        }),
      );
      graph.string(2, g.name);
      for (const t of g.initializers ?? []) graph.message(5, (w) => initializer(w, t.name, t.dims, t.data));
      for (const v of g.inputs) graph.message(11, (w) => valueInfo(w, v.name, v.dims, v.elemType));
      for (const v of g.outputs) graph.message(12, (w) => valueInfo(w, v.name, v.dims));
    })
    .finish();
}
