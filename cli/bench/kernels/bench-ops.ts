/**
 * The ops section of `bench kernels`: every case of ops.ts timed on each implementation the
 * backend selection covers — webgpu (the WGSL kernels, with --backend webgpu), reference (the JS
 * reference ops, with reference) and cpu (what the server runs on the cpu backend where it is
 * not the reference: see ops.ts).
 */
import { createBackend, type Backend, type BackendKind } from '../../../gpu-server/backend';
import { describeAdapter, findAdapter, NO_ADAPTER_MESSAGE } from '../../../gpu-server/backend/webgpu/adapter';
import { opsFor, requestOpsDevice } from '../../../gpu-server/backend/webgpu/ops/index';
import type { Model } from '../../../shared/model/types';
import { opCases, type OpCase } from './ops';
import { timeJs, timeWebGpu, type Budget } from './timing';

export type OpImpl = 'webgpu' | 'reference' | 'cpu';

export interface OpRow {
  op: string;
  shape: string;
  unit: OpCase['unit'];
  /** Rate in `unit`, and milliseconds per call, of each implementation measured. */
  rate: Partial<Record<OpImpl, number>>;
  ms: Partial<Record<OpImpl, number>>;
}

export function opImpls(kinds: readonly BackendKind[]): OpImpl[] {
  const impls: OpImpl[] = [];
  if (kinds.includes('webgpu')) impls.push('webgpu');
  if (kinds.includes('reference')) impls.push('reference');
  if (kinds.includes('cpu')) impls.push('cpu');
  return impls;
}

/** The ops at `rows` rows, attention over `context` positions; `device` describes the WebGPU adapter used, if any. */
export async function benchOps(model: Model, kinds: readonly BackendKind[], rows: number, context: number, budget: Budget): Promise<{ rows: OpRow[]; device?: string }> {
  // The cpu column times the CPU backend's own ops (its attention runs in onnxruntime).
  const cpu = kinds.includes('cpu') ? await createBackend(model, 'cpu') : undefined;
  try {
    return await measure(model, kinds, rows, context, budget, cpu);
  } finally {
    await cpu?.dispose();
  }
}

async function measure(model: Model, kinds: readonly BackendKind[], rows: number, context: number, budget: Budget, cpu: Backend | undefined): Promise<{ rows: OpRow[]; device?: string }> {
  const impls = opImpls(kinds);
  const cases = opCases(model, rows, context, cpu);
  const result: OpRow[] = cases.map((c) => ({ op: c.op, shape: c.shape, unit: c.unit, rate: {}, ms: {} }));
  const record = (i: number, impl: OpImpl, ms: number) => {
    result[i].ms[impl] = ms;
    result[i].rate[impl] = cases[i].work / (ms * 1e6);
  };
  for (const [i, c] of cases.entries()) {
    if (impls.includes('reference')) record(i, 'reference', await timeJs(c.reference, budget));
    if (impls.includes('cpu') && c.cpu) record(i, 'cpu', await timeJs(c.cpu, budget));
  }
  if (!impls.includes('webgpu')) return { rows: result };
  const adapter = await findAdapter();
  if (!adapter) throw new Error(NO_ADAPTER_MESSAGE);
  const device = await requestOpsDevice(adapter);
  try {
    const ops = await opsFor(device);
    for (const [i, c] of cases.entries()) record(i, 'webgpu', await timeWebGpu(ops, c, budget));
  } finally {
    device.destroy();
  }
  return { rows: result, device: describeAdapter(adapter.info) };
}
