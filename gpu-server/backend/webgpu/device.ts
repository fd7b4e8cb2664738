/**
 * The device: explicit limits (Dawn's defaults — 128 MiB bindings, 16 KiB workgroup memory —
 * are far below what a real model's weight groups and batches need) and the weight precision.
 */
import { isSoftwareAdapter } from './adapter';

/** How the base weights are kept on the device. */
export type WeightPrecision = 'f32' | 'f16';

/**
 * 'auto' keeps f16 weights on a hardware adapter with `shader-f16` (half the memory and
 * bandwidth, products still accumulated in f32) and f32 on a software adapter, whose speed does
 * not matter and where tests compare against the f32 reference exactly.
 */
export type WeightPrecisionOption = 'auto' | WeightPrecision;

/** What the kernels and the model need from the device, in bytes (and invocations). */
export interface DeviceNeeds {
  /** The largest buffer that cannot be split: one output row of the widest weight group (weights.ts chunks the rest). */
  largestBuffer: number;
  workgroupStorage: number;
  invocationsPerWorkgroup: number;
}

export function choosePrecision(adapter: GPUAdapter, option: WeightPrecisionOption = 'auto'): WeightPrecision {
  const hasF16 = adapter.features.has('shader-f16');
  if (option === 'f16' && !hasF16) throw new Error('webgpu backend: f16 weights need the shader-f16 feature, which this adapter lacks');
  if (option !== 'auto') return option;
  return hasF16 && !isSoftwareAdapter(adapter.info) ? 'f16' : 'f32';
}

/**
 * Every limit the backend depends on is raised to the adapter's maximum (batches grow the input
 * and output buffers past the weights' size). Throws when the adapter cannot bind one row of the
 * widest weight group, or cannot run the kernels.
 */
export function requiredLimits(adapter: GPUAdapter, needs: DeviceNeeds): Record<string, number> {
  const a = adapter.limits;
  const binding = Math.min(a.maxStorageBufferBindingSize, a.maxBufferSize);
  if (needs.largestBuffer > binding) {
    throw new Error(
      `webgpu backend: one row of the widest weight group needs a ${mib(needs.largestBuffer)} buffer, but this adapter binds at most ${mib(binding)} ` +
        '(use --backend cpu)',
    );
  }
  const atLeast = (name: 'maxComputeWorkgroupStorageSize' | 'maxComputeInvocationsPerWorkgroup', need: number) => {
    if (need > a[name]) throw new Error(`webgpu backend: the kernels need ${name} ≥ ${need}, the adapter allows ${a[name]}`);
    return a[name];
  };
  return {
    maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
    maxBufferSize: a.maxBufferSize,
    maxComputeWorkgroupStorageSize: atLeast('maxComputeWorkgroupStorageSize', needs.workgroupStorage),
    maxComputeInvocationsPerWorkgroup: atLeast('maxComputeInvocationsPerWorkgroup', needs.invocationsPerWorkgroup),
  };
}

export async function requestDevice(adapter: GPUAdapter, precision: WeightPrecision, needs: DeviceNeeds): Promise<GPUDevice> {
  return adapter.requestDevice({
    label: 'symbiosis base model',
    requiredFeatures: precision === 'f16' ? ['shader-f16'] : [],
    requiredLimits: requiredLimits(adapter, needs),
  });
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
