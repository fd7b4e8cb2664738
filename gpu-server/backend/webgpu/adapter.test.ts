import { describe, expect, it } from 'vitest';
import { describeAdapter, isSoftwareAdapter } from './adapter';
import { choosePrecision, requiredLimits } from './device';
import { kernelSource } from './kernels';

const info = (over: Partial<GPUAdapterInfo>): GPUAdapterInfo => ({ vendor: '', architecture: '', device: '', description: '', isFallbackAdapter: false, subgroupMinSize: 4, subgroupMaxSize: 128, ...over }) as GPUAdapterInfo;
const LAVAPIPE = info({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)', isFallbackAdapter: true });
const NVIDIA = info({ vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200' });

function fakeAdapter(adapterInfo: GPUAdapterInfo, features: string[], limits: Partial<GPUSupportedLimits> = {}): GPUAdapter {
  return { info: adapterInfo, features: new Set(features), limits } as unknown as GPUAdapter;
}

describe('adapters', () => {
  it('tells software adapters from hardware ones', () => {
    expect(isSoftwareAdapter(LAVAPIPE)).toBe(true);
    expect(isSoftwareAdapter(info({ description: 'SwiftShader Device (Subzero)' }))).toBe(true);
    expect(isSoftwareAdapter(info({ description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }))).toBe(true); // not flagged as fallback
    expect(isSoftwareAdapter(NVIDIA)).toBe(false);
  });

  it('describes an adapter from its info, marking software ones', () => {
    expect(describeAdapter(LAVAPIPE)).toBe('llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) [mesa, software, llvmpipe-llvm-15-0-6-256-bits-] (software)');
    expect(describeAdapter(NVIDIA)).toBe('NVIDIA H200 [nvidia, hopper]');
    expect(describeAdapter(info({}))).toBe('unnamed adapter');
  });

  it('keeps f16 weights on a hardware adapter with shader-f16, f32 otherwise unless asked', () => {
    expect(choosePrecision(fakeAdapter(NVIDIA, ['shader-f16']))).toBe('f16');
    expect(choosePrecision(fakeAdapter(NVIDIA, []))).toBe('f32');
    expect(choosePrecision(fakeAdapter(LAVAPIPE, ['shader-f16']))).toBe('f32');
    expect(choosePrecision(fakeAdapter(LAVAPIPE, ['shader-f16']), 'f16')).toBe('f16');
    expect(choosePrecision(fakeAdapter(NVIDIA, ['shader-f16']), 'f32')).toBe('f32');
    expect(() => choosePrecision(fakeAdapter(NVIDIA, []), 'f16')).toThrow(/f16 weights need the shader-f16 feature/);
  });

  it('raises the limits to the adapter maximum, and refuses a model that does not fit one binding', () => {
    const limits = { maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 32 - 1, maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024 };
    const needs = { largestBuffer: 2 ** 20, workgroupStorage: 2048, invocationsPerWorkgroup: 256 };
    expect(requiredLimits(fakeAdapter(LAVAPIPE, [], limits), needs)).toEqual(limits);
    expect(() => requiredLimits(fakeAdapter(LAVAPIPE, [], limits), { ...needs, largestBuffer: 2 ** 28 })).toThrow(/needs a 256\.0 MiB buffer, but this adapter binds at most 128\.0 MiB/);
    expect(() => requiredLimits(fakeAdapter(LAVAPIPE, [], { ...limits, maxComputeInvocationsPerWorkgroup: 128 }), needs)).toThrow(/maxComputeInvocationsPerWorkgroup ≥ 256, the adapter allows 128/);
  });

  it('switches a kernel to f16 weights by its weight_t alias', () => {
    expect(kernelSource('matmul', 'f32')).toContain('alias weight_t = f32;');
    const f16 = kernelSource('matvec', 'f16');
    expect(f16.startsWith('enable f16;\n')).toBe(true);
    expect(f16).toContain('alias weight_t = f16;');
    expect(f16).not.toContain('alias weight_t = f32;');
  });
});
