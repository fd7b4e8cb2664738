/**
 * The ops section of `bench kernels`: every case of ops.ts timed on each implementation the
 * backend selection covers — webgpu (the WGSL kernels, with --backend webgpu), reference (the JS
 * reference ops, with reference) and fastops (the server's fast JS versions, which the cpu
 * backend's engine runs, with cpu; RoPE and attention only).
 */
import type { BackendKind } from '../../../gpu-server/backend';
import { describeAdapter, findAdapter, NO_ADAPTER_MESSAGE } from '../../../gpu-server/backend/webgpu/adapter';
import { opsFor, requestOpsDevice } from '../../../gpu-server/backend/webgpu/ops/index';
import type { Model } from '../../../shared/model/types';
import { opCases, type OpCase } from './ops';
import { timeJs, timeWebGpu, type Budget } from './timing';

export type OpImpl = 'webgpu' | 'reference' | 'fastops';

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
  if (kinds.includes('cpu')) impls.push('fastops');
  return impls;
}

/** The ops at `rows` rows, attention over `context` positions; `device` describes the WebGPU adapter used, if any. */
export async function benchOps(model: Model, kinds: readonly BackendKind[], rows: number, context: number, budget: Budget): Promise<{ rows: OpRow[]; device?: string }> {
  const impls = opImpls(kinds);
  const cases = opCases(model, rows, context);
  const result: OpRow[] = cases.map((c) => ({ op: c.op, shape: c.shape, unit: c.unit, rate: {}, ms: {} }));
  const record = (i: number, impl: OpImpl, ms: number) => {
    result[i].ms[impl] = ms;
    result[i].rate[impl] = cases[i].work / (ms * 1e6);
  };
  for (const [i, c] of cases.entries()) {
    if (impls.includes('reference')) record(i, 'reference', await timeJs(c.reference, budget));
    if (impls.includes('fastops') && c.fastops) record(i, 'fastops', await timeJs(c.fastops, budget));
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
