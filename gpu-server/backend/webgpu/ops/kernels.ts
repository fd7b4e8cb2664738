/**
 * The pipelines of the layer's ops (one .wgsl per kernel next to this file, with its math and
 * thread mapping), built once per device, and the one way a dispatch is recorded.
 *
 * Each kernel has its own bind-group layout, derived from OP_KERNELS: binding 0 is the uniform
 * params, then the kernel's read-only inputs, then its outputs, in the listed order and under the
 * listed names — the .wgsl files declare the same (kernels.test.ts checks it).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { uploadUniform } from './run';

export const OP_KERNELS = {
  rmsnorm: { reads: ['x', 'weight'], writes: ['y'] },
  'rmsnorm-backward': { reads: ['dy', 'x', 'weight'], writes: ['dx'] },
  rope: { reads: ['x', 'table'], writes: ['y'] },
  attention: { reads: ['q', 'k', 'v'], writes: ['out'] },
  'attention-backward-dq': { reads: ['dOut', 'q', 'k', 'v'], writes: ['dq', 'stats'] },
  'attention-backward-dkv': { reads: ['dOut', 'q', 'k', 'v', 'stats'], writes: ['dk', 'dv'] },
  'silu-mul': { reads: ['g', 'u'], writes: ['m'] },
  'silu-mul-backward': { reads: ['dm', 'g', 'u'], writes: ['dg', 'du'] },
  add: { reads: ['a', 'b'], writes: ['out'] },
  'copy-columns': { reads: ['src'], writes: ['dst'] },
  gather: { reads: ['table', 'ids'], writes: ['out'] },
  softmax: { reads: ['logits'], writes: ['probs'] },
  'cross-entropy': { reads: ['logits', 'targets', 'mask'], writes: ['rowLoss'] },
  'cross-entropy-mean': { reads: ['rowLoss', 'mask'], writes: ['loss'] },
  'cross-entropy-backward': { reads: ['logits', 'targets', 'mask'], writes: ['dLogits'] },
} as const;

export type OpKernel = keyof typeof OP_KERNELS;
type Spec<K extends OpKernel> = (typeof OP_KERNELS)[K];
/** The buffers a kernel binds, by the names of OP_KERNELS. */
export type KernelBuffers<K extends OpKernel> = Record<Spec<K>['reads'][number] | Spec<K>['writes'][number], GPUBuffer>;

/** Workgroup size of every op kernel, and the largest head the attention kernels hold (= the .wgsl constants). */
export const OP_WG = 64;
export const MAX_HEAD_DIM = 256;

/**
 * What the op kernels need of the device, at most (attention-backward-dq): two head rows, WG f32
 * and WG vec3f partial sums (16-byte stride) of workgroup memory; WG invocations.
 */
export const OP_NEEDS = { workgroupStorage: (2 * MAX_HEAD_DIM + OP_WG) * 4 + OP_WG * 16, invocationsPerWorkgroup: OP_WG };

/** The most workgroups along one grid dimension that every WebGPU device allows. */
const MAX_GRID = 65535;

export interface OpPipelines {
  layouts: Record<OpKernel, GPUBindGroupLayout>;
  pipelines: Record<OpKernel, GPUComputePipeline>;
}

export function opSource(kernel: OpKernel): string {
  return readFileSync(join(import.meta.dirname, `${kernel}.wgsl`), 'utf8');
}

export async function createOpPipelines(device: GPUDevice): Promise<OpPipelines> {
  const entries = await Promise.all(
    (Object.keys(OP_KERNELS) as OpKernel[]).map(async (kernel) => {
      const { reads, writes } = OP_KERNELS[kernel];
      const entry = (binding: number, type: GPUBufferBindingType): GPUBindGroupLayoutEntry => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } });
      const layout = device.createBindGroupLayout({
        label: `${kernel}: params, ${[...reads, ...writes].join(', ')}`,
        entries: [entry(0, 'uniform'), ...reads.map((_, i) => entry(1 + i, 'read-only-storage')), ...writes.map((_, i) => entry(1 + reads.length + i, 'storage'))],
      });
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ label: `${kernel}.wgsl`, code: opSource(kernel) });
      const error = await device.popErrorScope();
      if (error) throw new Error(`${kernel}.wgsl: ${error.message}`);
      const pipeline = await device.createComputePipelineAsync({
        label: kernel,
        layout: device.createPipelineLayout({ label: kernel, bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
      });
      return { kernel, layout, pipeline };
    }),
  );
  const layouts = Object.fromEntries(entries.map((e) => [e.kernel, e.layout])) as Record<OpKernel, GPUBindGroupLayout>;
  const pipelines = Object.fromEntries(entries.map((e) => [e.kernel, e.pipeline])) as Record<OpKernel, GPUComputePipeline>;
  return { layouts, pipelines };
}

/**
 * A kernel's uniform params: the u32 fields, then the f32 fields, as the .wgsl Params structs
 * order them; padded to 16 bytes.
 */
export function packParams(u32s: readonly number[], f32s: readonly number[] = []): ArrayBuffer {
  const bytes = Math.ceil(Math.max(1, u32s.length + f32s.length) / 4) * 16;
  const data = new ArrayBuffer(bytes);
  new Uint32Array(data, 0, u32s.length).set(u32s);
  new Float32Array(data, 4 * u32s.length, f32s.length).set(f32s);
  return data;
}

/** `workgroups` laid out as x × y with x ≤ 65535 (the kernels number them x + y·gridX). */
export function gridFor(workgroups: number): [number, number] {
  const x = Math.min(workgroups, MAX_GRID);
  const y = x === 0 ? 1 : Math.ceil(workgroups / x);
  if (y > MAX_GRID) throw new RangeError(`${workgroups} workgroups exceed a ${MAX_GRID}×${MAX_GRID} grid`);
  return [x, y];
}

/** Where a dispatch's params go: a uniform buffer holding them, used by nothing else until the encoder's submit. */
export type UniformSource = (label: string, params: ArrayBuffer | Uint32Array) => GPUBuffer;

/** A fresh uniform per dispatch, written at creation; Dawn frees it once it is garbage-collected and no submitted work uses it. */
export const freshUniforms =
  (device: GPUDevice): UniformSource =>
  (label, params) =>
    uploadUniform(device, label, params);

/**
 * Records one dispatch of `kernel` into `encoder`, in its own compute pass, with its params in a
 * uniform of its own: the encoder may hold many dispatches before one submit, each with its own
 * params, which one shared buffer rewritten per call could not give.
 */
export function recordDispatch<K extends OpKernel>(device: GPUDevice, ops: OpPipelines, encoder: GPUCommandEncoder, kernel: K, params: ArrayBuffer, buffers: KernelBuffers<K>, workgroups: number, uniforms: UniformSource = freshUniforms(device)): void {
  const uniform = uniforms(`${kernel} params`, params);
  const { reads, writes } = OP_KERNELS[kernel];
  const named = buffers as Record<string, GPUBuffer>;
  const bindGroup = device.createBindGroup({
    label: kernel,
    layout: ops.layouts[kernel],
    entries: [uniform, ...[...reads, ...writes].map((name) => named[name])].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const pass = encoder.beginComputePass({ label: kernel });
  pass.setPipeline(ops.pipelines[kernel]);
  pass.setBindGroup(0, bindGroup);
  const [x, y] = gridFor(workgroups);
  pass.dispatchWorkgroups(x, y);
  pass.end();
}
