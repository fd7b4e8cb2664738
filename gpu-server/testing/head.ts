/** A backend's training head on host arrays, for the parity tests: the op the engine runs on it. */
import type { ModelConfig } from '../../shared/model/types';
import { composedTrainingHead, type TrainingHead } from '../backend/head';
import type { Backend } from '../backend/types';

/** Its device's one-op head where it has one (webgpu: xf uploaded, dL/dxf read back), else the composition from its lmHead GEMMs. */
export async function backendTrainingHead(backend: Backend, config: ModelConfig, xf: Float32Array, targets: Int32Array, mask: Float32Array, rows: number, returnLogits: boolean): Promise<TrainingHead> {
  const device = backend.activations;
  if (!device?.trainingHead) return composedTrainingHead(backend, config, xf, targets, mask, rows, returnLogits);
  const scope = device.scope();
  try {
    const head = await device.trainingHead(scope.upload(xf), targets, mask, rows, returnLogits);
    return { ...head, dxf: await scope.read(scope.adopt(head.dxf)) };
  } finally {
    scope.release();
  }
}
