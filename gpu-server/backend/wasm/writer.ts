/**
 * A minimal WebAssembly module writer: just enough of the binary format (core spec §5, SIMD
 * proposal) for the server's hand-written kernels (../cpu/decode-attention-kernel.ts, silu.ts):
 * one imported memory, functions over i32/f32/v128 locals, exports, and a few helpers to write
 * their bodies (named locals, loops). Like ../cpu/onnx-writer.ts, it spares the project a
 * compiler toolchain: the kernels are built as bytes when first used.
 */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
export type ValueType = typeof I32 | typeof F32 | typeof V128;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

const utf8 = (s: string) => [...new TextEncoder().encode(s)];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const simd = (opcode: number) => [0xfd, ...uleb(opcode)];
/** v128.const: the 16 bytes of `lanes`. */
const v128Const = (lanes: Float32Array | Int32Array | Float64Array | BigInt64Array) => [...simd(0x0c), ...new Uint8Array(lanes.buffer)];
/** memarg: alignment 4 bytes (the kernels' addresses are float-aligned), then the offset. */
const memarg = (offset: number) => [2, ...uleb(offset)];

/** Instructions (each an array of bytes; a function body is their concatenation). */
export const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (local: number) => [0x20, ...uleb(local)],
  set: (local: number) => [0x21, ...uleb(local)],
  i32: (value: number) => [0x41, ...sleb(value)],
  i32Add: [0x6a],
  i32Mul: [0x6c],
  i32DivU: [0x6e],
  i32LtU: [0x49],
  i32GtU: [0x4b],
  i32GeU: [0x4f],
  f32Store: (offset = 0) => [0x38, ...memarg(offset)],
  f32Const: (value: number) => [0x43, ...new Uint8Array(Float32Array.of(value).buffer)],
  f32Add: [0x92],
  f32Mul: [0x94],
  f32Div: [0x95],
  f32Max: [0x97],
  v128Load: (offset = 0) => [...simd(0x00), ...memarg(offset)],
  v128Load64Splat: (offset = 0) => [...simd(0x0a), ...memarg(offset)],
  /** Two float32 (8 bytes) into the low half, zeros above. */
  v128Load64Zero: (offset = 0) => [...simd(0x5d), ...memarg(offset)],
  /** The low 8 bytes of the vector on the stack. */
  v128Store64Lane0: (offset = 0) => [...simd(0x5b), ...memarg(offset), 0],
  v128Load32Splat: (offset = 0) => [...simd(0x09), ...memarg(offset)],
  v128Store: (offset = 0) => [...simd(0x0b), ...memarg(offset)],
  v128Zero: [...simd(0x0c), ...new Array<number>(16).fill(0)],
  /** Four lanes of the float32 on the stack. */
  f32x4SplatTop: simd(0x13),
  f32x4ExtractLane: (lane: number) => [...simd(0x1f), lane],
  /** Four lanes of one float32 constant. */
  f32x4Splat: (value: number) => v128Const(Float32Array.of(value, value, value, value)),
  /** Four lanes of one int32 constant. */
  i32x4Splat: (value: number) => v128Const(Int32Array.of(value, value, value, value)),
  f32x4Nearest: simd(0x6a),
  f32x4Neg: simd(0xe1),
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  f32x4Div: simd(0xe7),
  f32x4Min: simd(0xe8),
  f32x4Max: simd(0xe9),
  f32x4Gt: simd(0x44),
  /** (a & mask) | (b & ~mask): a, b, mask on the stack. */
  v128Bitselect: simd(0x52),
  /** Four int32 lanes. */
  i32x4Lanes: (a: number, b: number, c: number, d: number) => v128Const(Int32Array.of(a, b, c, d)),
  /** Two lanes of one float64 constant. */
  f64x2Splat: (value: number) => v128Const(Float64Array.of(value, value)),
  /** Two lanes of one int64 constant. */
  i64x2Splat: (value: number) => v128Const(BigInt64Array.of(BigInt(value), BigInt(value))),
  f32x4DemoteF64x2Zero: simd(0x5e),
  f64x2PromoteLowF32x4: simd(0x5f),
  f64x2Nearest: simd(0x94),
  f64x2Add: simd(0xf0),
  f64x2Sub: simd(0xf1),
  f64x2Mul: simd(0xf2),
  f64x2Div: simd(0xf3),
  f64x2Lt: simd(0x49),
  /** a & ~b */
  v128AndNot: simd(0x4f),
  f64x2Min: simd(0xf4),
  f64x2Max: simd(0xf5),
  i32x4TruncSatF64x2SZero: simd(0xfc),
  i64x2ExtendLowI32x4S: simd(0xc7),
  i64x2Shl: simd(0xcb),
  i64x2Add: simd(0xce),
  i32x4Shl: simd(0xab),
  i32x4Add: simd(0xae),
  i32x4TruncSatF32x4S: simd(0xf8),
};

export interface WasmFunction {
  name: string;
  params: ValueType[];
  locals: ValueType[];
  body: number[][];
}

/** A module importing `env.memory` (at least `minPages` 64 KiB pages) and exporting `functions` (no results). */
export function wasmModule(functions: readonly WasmFunction[], minPages: number): Uint8Array<ArrayBuffer> {
  const types = functions.map((f) => [0x60, ...vec(f.params.map((t) => [t])), 0]);
  const name = (s: string) => [...uleb(utf8(s).length), ...utf8(s)];
  const imports = [[...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(minPages)]];
  const code = functions.map((f) => {
    const body = [...vec(f.locals.map((t) => [1, t])), ...f.body.flat(), ...op.end];
    return [...uleb(body.length), ...body];
  });
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // \0asm, version 1
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(3, vec(functions.map((_, i) => uleb(i)))),
    ...section(7, vec(functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]))),
    ...section(10, vec(code)),
  ]);
}

/** WebAssembly's page, the unit a memory grows by. */
export const PAGE = 65536;

/**
 * A kernel module (the functions `build` writes), instantiated on first call over a memory of its
 * own that each call grows to at least `bytes`. Growing detaches the views of the old buffer:
 * callers take theirs from the buffer each call returns.
 */
export function scratchKernel<E>(build: () => readonly WasmFunction[]): (bytes: number) => { exports: E; buffer: ArrayBuffer } {
  let kernel: { memory: WebAssembly.Memory; exports: E } | undefined;
  return (bytes) => {
    if (!kernel) {
      const memory = new WebAssembly.Memory({ initial: 1 });
      kernel = { memory, exports: new WebAssembly.Instance(new WebAssembly.Module(wasmModule(build(), 1)), { env: { memory } }).exports as E };
    }
    const { memory } = kernel;
    if (memory.buffer.byteLength < bytes) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / PAGE));
    return { exports: kernel.exports, buffer: memory.buffer };
  };
}

type Code = number[];

/** Named params and locals → their indices, and get/set/add helpers over them. */
export function frame<N extends string>(params: Partial<Record<N, ValueType>>, locals: Partial<Record<N, ValueType>>) {
  const names = [...Object.keys(params), ...Object.keys(locals)] as N[];
  const index = new Map(names.map((n, i) => [n, i]));
  const at = (n: N) => index.get(n)!;
  const get = (n: N): Code => op.get(at(n));
  const set = (n: N, ...value: Code[]): Code => [...value.flat(), ...op.set(at(n))];
  const addI = (a: N, b: N | number): Code => [...get(a), ...(typeof b === 'number' ? op.i32(b) : get(b)), ...op.i32Add];
  /** n += by */
  const inc = (n: N, by: N | number): Code => set(n, addI(n, by));
  /** acc += x · y (vectors) */
  const madd = (acc: N, x: Code, y: Code): Code => set(acc, get(acc), x, y, op.f32x4Mul, op.f32x4Add);
  /** The sum of a vector's four lanes. */
  const hsum = (v: N): Code => [...get(v), ...op.f32x4ExtractLane(0), ...[1, 2, 3].flatMap((lane) => [...get(v), ...op.f32x4ExtractLane(lane), ...op.f32Add])];
  const zero = (...ns: N[]): Code => ns.flatMap((n) => set(n, op.v128Zero));
  return { params: Object.values(params) as ValueType[], locals: Object.values(locals) as ValueType[], get, set, addI, inc, madd, hsum, zero };
}

/** while (!exit) { body } */
export const whileNot = (exit: Code, ...body: Code[]): Code => [...op.block, ...op.loop, ...exit, ...op.brIf(1), ...body.flat(), ...op.br(0), ...op.end, ...op.end];
/** do { body } while (cond) */
export const doWhile = (cond: Code, ...body: Code[]): Code => [...op.loop, ...body.flat(), ...cond, ...op.brIf(0), ...op.end];
