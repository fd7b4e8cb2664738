/**
 * The base weights on the device: one storage buffer per (layer, group), written once at
 * creation through a mapped-at-creation buffer (no staging copy) and never touched again.
 * Fused groups are written block by block in the order of types.ts; a group's bias (Qwen2's
 * q/k/v) gets its own small f32 buffer, and groups without one share a buffer of zeros.
 */
import type { Floats } from '../../../shared/model/types';
import type { GroupWeights } from '../groups';
import type { WeightPrecision } from './device';
import { writeHalf } from './half';

export interface DeviceGroup {
  weight: GPUBuffer; // [out, in], f32 or f16
  bias: GPUBuffer; // [out] f32 (possibly the shared zeros, longer than out)
  inDim: number;
  outDim: number;
}

/** Bytes of a group's weight buffer: 4-byte aligned, as buffer sizes must be. */
export function weightBytes(elements: number, precision: WeightPrecision): number {
  return precision === 'f32' ? elements * 4 : Math.ceil(elements / 2) * 4;
}

export function uploadWeights(device: GPUDevice, label: string, blocks: Floats[], precision: WeightPrecision): GPUBuffer {
  const elements = blocks.reduce((n, b) => n + b.length, 0);
  const buffer = device.createBuffer({ label, size: weightBytes(elements, precision), usage: GPUBufferUsage.STORAGE, mappedAtCreation: true });
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

export function uploadGroup(device: GPUDevice, label: string, g: GroupWeights, precision: WeightPrecision, zeros: GPUBuffer): DeviceGroup {
  const weight = uploadWeights(device, `${label} W (${precision})`, g.blocks, precision);
  const bias = g.bias ? uploadWeights(device, `${label} bias`, g.bias, 'f32') : zeros;
  return { weight, bias, inDim: g.inDim, outDim: g.outDim };
}
