/**
 * The base weights on the device, written once at creation through mapped-at-creation buffers
 * (no staging copy) and never touched again. A (layer, group) is one storage buffer, or, when
 * its [out, in] matrix is larger than the device binds at once, several: chunks of whole output
 * rows, each a buffer and a dispatch of its own (the kernels place a chunk's outputs by offset
 * and stride, and the backward sums the chunks' contributions). Fused groups are written block
 * by block in the order of types.ts; a group's bias (Qwen2's q/k/v) gets its own small f32
 * buffers, and groups without one share a buffer of zeros.
 */
import type { Floats } from '../../../shared/model/types';
import type { GroupWeights } from '../groups';
import type { WeightPrecision } from './device';
import { writeHalf } from './half';

/** Output rows [out0, out0 + outCount) of a group, with their own buffers. */
export interface GroupChunk {
  weight: GPUBuffer; // [outCount, in], f32 or f16
  bias: GPUBuffer; // [outCount] f32 (possibly the shared zeros, longer than outCount)
  out0: number;
  outCount: number;
}

export interface DeviceGroup {
  chunks: GroupChunk[];
  inDim: number;
  outDim: number;
}

/** Bytes of a weight buffer of `elements` elements: 4-byte aligned, as buffer sizes must be. */
export function weightBytes(elements: number, precision: WeightPrecision): number {
  return precision === 'f32' ? elements * 4 : Math.ceil(elements / 2) * 4;
}

/** The most output rows of width inDim whose buffer fits maxBytes (all of them when the group fits). */
export function rowsPerChunk(inDim: number, outDim: number, precision: WeightPrecision, maxBytes: number): number {
  let rows = Math.min(outDim, Math.floor(maxBytes / (precision === 'f32' ? 4 * inDim : 2 * inDim)));
  while (rows > 0 && weightBytes(rows * inDim, precision) > maxBytes) rows--;
  if (rows < 1) throw new Error(`webgpu backend: one ${inDim}-wide row of weights needs ${weightBytes(inDim, precision)} bytes, the device binds at most ${maxBytes}`);
  return rows;
}

export function uploadWeights(device: GPUDevice, label: string, blocks: Floats[], precision: WeightPrecision): GPUBuffer {
  const elements = blocks.reduce((n, b) => n + b.length, 0);
  const buffer = device.createBuffer({ label, size: Math.max(4, weightBytes(elements, precision)), usage: GPUBufferUsage.STORAGE, mappedAtCreation: true });
  const range = buffer.getMappedRange();
  let offset = 0;
  for (const block of blocks) {
    // Float32Array.set narrows a float64 test model's blocks as it copies.
    if (precision === 'f32') new Float32Array(range, offset * 4, block.length).set(block);
    else writeHalf(block, new Uint16Array(range, offset * 2, block.length));
    offset += block.length;
  }
  buffer.unmap();
  return buffer;
}

/** Views of rows [o0, o1) of the row blocks stacked in order (each [outᵢ, width]). */
function stackedRows(blocks: Floats[], width: number, o0: number, o1: number): Floats[] {
  const views: Floats[] = [];
  let start = 0;
  for (const block of blocks) {
    const rows = block.length / width;
    const from = Math.max(o0, start);
    const to = Math.min(o1, start + rows);
    if (from < to) views.push(block.subarray((from - start) * width, (to - start) * width));
    start += rows;
  }
  return views;
}

export function uploadGroup(device: GPUDevice, label: string, g: GroupWeights, precision: WeightPrecision, zeros: GPUBuffer, maxBytes: number): DeviceGroup {
  const per = rowsPerChunk(g.inDim, g.outDim, precision, maxBytes);
  const chunks: GroupChunk[] = [];
  for (let out0 = 0; out0 < g.outDim; out0 += per) {
    const out1 = Math.min(g.outDim, out0 + per);
    const name = per < g.outDim ? `${label} rows ${out0}–${out1}` : label;
    chunks.push({
      weight: uploadWeights(device, `${name} W (${precision})`, stackedRows(g.blocks, g.inDim, out0, out1), precision),
      bias: g.bias ? uploadWeights(device, `${name} bias`, stackedRows(g.bias, 1, out0, out1), 'f32') : zeros,
      out0,
      outCount: out1 - out0,
    });
  }
  return { chunks, inDim: g.inDim, outDim: g.outDim };
}
