/**
 * Backends of the gpu-server: where the frozen base model's linear layers run.
 *
 *   cpu        onnxruntime-node's CPU provider (cpu/index.ts) — the fast path without a GPU.
 *   reference  the plain JavaScript reference ops (reference/index.ts) — the oracle in tests.
 *   webgpu     WGSL kernels through Dawn (webgpu/index.ts) — on a GPU, or on lavapipe in CI.
 */
import type { Model } from '../../shared/model/types';
import { CpuBackend, type CpuBackendOptions } from './cpu/index';
import { ReferenceBackend } from './reference/index';
import type { Backend } from './types';
import { probeAdapter } from './webgpu/adapter';
import { WebGpuBackend, type WebGpuBackendOptions } from './webgpu/index';

export type { Backend, BackendInfo, WeightGroup } from './types';
export { WEIGHT_GROUPS } from './types';
export { BackendInputError, groupShape, type GroupShape } from './groups';
export { CpuBackend, type CpuBackendOptions, type CpuBackwardMode } from './cpu/index';
export { ReferenceBackend } from './reference/index';
export { WebGpuBackend, type WebGpuBackendOptions, type WeightPrecision, type WeightPrecisionOption } from './webgpu/index';
export { NO_ADAPTER_MESSAGE, probeAdapter, type AdapterProbe } from './webgpu/adapter';

export type BackendKind = 'cpu' | 'reference' | 'webgpu';

/**
 * Every kind createBackend knows. 'webgpu' works only where Dawn finds an adapter, which takes
 * an asynchronous probe: usableBackendKinds() answers that.
 */
export const BACKEND_KINDS: readonly BackendKind[] = ['cpu', 'reference', 'webgpu'];

/** The kinds that can run here: all of BACKEND_KINDS, less 'webgpu' without an adapter. */
export async function usableBackendKinds(): Promise<BackendKind[]> {
  const adapter = await probeAdapter();
  return BACKEND_KINDS.filter((k) => k !== 'webgpu' || adapter !== undefined);
}

export type BackendOptions = CpuBackendOptions & Omit<WebGpuBackendOptions, 'requestAdapter'>;

/**
 * Loads the model's weights into a backend of the given kind (`threads`, `backward` apply to
 * 'cpu', `weights` to 'webgpu'). 'webgpu' throws NO_ADAPTER_MESSAGE where Dawn finds no adapter.
 */
export async function createBackend(model: Model, kind: BackendKind, opts: BackendOptions = {}): Promise<Backend> {
  switch (kind) {
    case 'cpu':
      return CpuBackend.create(model, { threads: opts.threads, backward: opts.backward });
    case 'reference':
      return new ReferenceBackend(model);
    case 'webgpu':
      return WebGpuBackend.create(model, { weights: opts.weights });
    default:
      throw new Error(`unknown backend kind ${JSON.stringify(kind)} (expected one of ${BACKEND_KINDS.join(', ')})`);
  }
}

/**
 * The server's `--backend auto`: webgpu on a hardware adapter, else cpu (a software adapter
 * such as lavapipe runs ~0.3 GFLOP/s, far behind onnxruntime on the same cores). The reason
 * is for the log.
 */
export async function chooseAutoBackend(): Promise<{ kind: 'cpu' | 'webgpu'; reason: string }> {
  const adapter = await probeAdapter();
  if (!adapter) return { kind: 'cpu', reason: 'no WebGPU adapter' };
  if (adapter.software) return { kind: 'cpu', reason: `the WebGPU adapter is software: ${adapter.device}` };
  return { kind: 'webgpu', reason: `hardware WebGPU adapter: ${adapter.device}` };
}
