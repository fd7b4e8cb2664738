/**
 * The compute pipelines, built once per device. Each kernel is one .wgsl file next to this one,
 * read at creation (a bundler-free way that works the same under tsx, vitest and node). All
 * kernels share one bind-group layout, so a call only picks the pipeline and the workgroup grid:
 *   0 params (uniform: rows, in, out) · 1 W · 2 bias · 3 input (x or dy) · 4 output (y or dx)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WeightPrecision } from './device';

export type KernelName = 'matmul' | 'matvec' | 'matmul-backward';
const KERNELS: readonly KernelName[] = ['matmul', 'matvec', 'matmul-backward'];

/** Tile edge of the two tiled kernels and workgroup size of matvec (must match the .wgsl files). */
export const TILE = 16;
export const MATVEC_WG = 64;

/** What the kernels need of the device: two TILE×TILE f32 tiles, TILE² invocations. */
export const KERNEL_NEEDS = { workgroupStorage: 2 * TILE * TILE * 4, invocationsPerWorkgroup: TILE * TILE };

/** The most workgroups along one grid dimension that every WebGPU device allows. */
const MAX_GRID = 65535;

export interface Kernels {
  layout: GPUBindGroupLayout;
  pipelines: Record<KernelName, GPUComputePipeline>;
}

const WEIGHT_ALIAS = 'alias weight_t = f32;';

/** A kernel's WGSL source, with W's element type switched to f16 where the weights are f16. */
export function kernelSource(name: KernelName, precision: WeightPrecision): string {
  const source = readFileSync(join(import.meta.dirname, `${name}.wgsl`), 'utf8');
  if (!source.includes(WEIGHT_ALIAS)) throw new Error(`${name}.wgsl: expected the line "${WEIGHT_ALIAS}"`);
  return precision === 'f32' ? source : `enable f16;\n${source.replace(WEIGHT_ALIAS, 'alias weight_t = f16;')}`;
}

export async function createKernels(device: GPUDevice, precision: WeightPrecision): Promise<Kernels> {
  const storage = (binding: number, type: GPUBufferBindingType): GPUBindGroupLayoutEntry => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } });
  const layout = device.createBindGroupLayout({
    label: 'linear: params, W, bias, input, output',
    entries: [storage(0, 'uniform'), storage(1, 'read-only-storage'), storage(2, 'read-only-storage'), storage(3, 'read-only-storage'), storage(4, 'storage')],
  });
  const pipelineLayout = device.createPipelineLayout({ label: 'linear', bindGroupLayouts: [layout] });
  const entries = await Promise.all(
    KERNELS.map(async (name) => {
      const module = device.createShaderModule({ label: `${name}.wgsl (${precision} weights)`, code: kernelSource(name, precision) });
      const pipeline = await device.createComputePipelineAsync({ label: name, layout: pipelineLayout, compute: { module, entryPoint: 'main' } });
      return [name, pipeline] as const;
    }),
  );
  return { layout, pipelines: Object.fromEntries(entries) as Record<KernelName, GPUComputePipeline> };
}

/** The kernel and workgroup grid of a call: matvec for one forward row, else a tiled kernel. */
export function dispatchFor(op: 'linear' | 'linearBackward', rows: number, inDim: number, outDim: number): { kernel: KernelName; grid: [number, number] } {
  if (op === 'linearBackward') return { kernel: 'matmul-backward', grid: [Math.ceil(inDim / TILE), Math.ceil(rows / TILE)] };
  if (rows === 1) return { kernel: 'matvec', grid: [Math.min(outDim, MAX_GRID), Math.ceil(outDim / MAX_GRID)] };
  return { kernel: 'matmul', grid: [Math.ceil(outDim / TILE), Math.ceil(rows / TILE)] };
}
