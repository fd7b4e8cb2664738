/**
 * A minimal WebAssembly module writer: just enough of the binary format (core spec §5, SIMD
 * proposal) for the CPU backend's hand-written kernels (decode-attention-kernel.ts): one imported
 * memory, functions over i32/f32/v128 locals, exports. Like onnx-writer.ts, it spares the
 * project a compiler toolchain: the kernels are built as bytes when the backend starts.
 */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
export type ValueType = typeof I32 | typeof F32 | typeof V128;

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export function sleb(n: number): number[] {
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
  f32Load: (offset = 0) => [0x2a, ...memarg(offset)],
  f32Store: (offset = 0) => [0x38, ...memarg(offset)],
  f32Add: [0x92],
  f32Mul: [0x94],
  v128Load: (offset = 0) => [...simd(0x00), ...memarg(offset)],
  v128Load32Splat: (offset = 0) => [...simd(0x09), ...memarg(offset)],
  v128Store: (offset = 0) => [...simd(0x0b), ...memarg(offset)],
  v128Zero: [...simd(0x0c), ...new Array<number>(16).fill(0)],
  f32x4ExtractLane: (lane: number) => [...simd(0x1f), lane],
  f32x4Add: simd(0xe4),
  f32x4Mul: simd(0xe6),
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
