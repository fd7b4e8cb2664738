/**
 * Backends of the gpu-server: where the frozen base model's linear layers run.
 *
 *   cpu        onnxruntime-node's CPU provider (cpu/index.ts) — the fast path without a GPU.
 *   reference  the plain JavaScript reference ops (reference/index.ts) — the oracle in tests.
 *
 * The WebGPU backend (Dawn through npm `webgpu`) joins here as kind 'webgpu': add it to
 * BackendKind and to the switch below.
 */
import type { Model } from '../../shared/model/types';
import { CpuBackend, type CpuBackendOptions } from './cpu/index';
import { ReferenceBackend } from './reference/index';
import type { Backend } from './types';

export type { Backend, BackendInfo, WeightGroup } from './types';
export { WEIGHT_GROUPS } from './types';
export { BackendInputError, groupShape, type GroupShape } from './groups';
export { CpuBackend, type CpuBackendOptions, type CpuBackwardMode } from './cpu/index';
export { ReferenceBackend } from './reference/index';

export type BackendKind = 'cpu' | 'reference';

export const BACKEND_KINDS: readonly BackendKind[] = ['cpu', 'reference'];

/** Loads the model's weights into a backend of the given kind (options apply to 'cpu'). */
export async function createBackend(model: Model, kind: BackendKind, opts: CpuBackendOptions = {}): Promise<Backend> {
  switch (kind) {
    case 'cpu':
      return CpuBackend.create(model, opts);
    case 'reference':
      return new ReferenceBackend(model);
    // case 'webgpu': — the WebGPU backend, from its own issue.
    default:
      throw new Error(`unknown backend kind ${JSON.stringify(kind)} (expected one of ${BACKEND_KINDS.join(', ')})`);
  }
}
