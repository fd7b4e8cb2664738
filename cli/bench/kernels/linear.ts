/**
 * The frozen linear layers in `bench kernels`: each backend's linear and linearBackward on every
 * weight group at each row count — timed as the engine calls them, one call at a time with upload
 * and readback (timeLinear of `bench gpu`) — next to onnxruntime-node's bare MatMul on the same
 * product (benchGemm's ort path; the backward dx = dy·W is the MatMul [rows, out]·[out, in]).
 */
import { createBackend, groupShape, WEIGHT_GROUPS, WebGpuBackend, type BackendKind, type WeightGroup } from '../../../gpu-server/backend';
import { benchGemm, type GemmShape } from '../../../gpu-server/backend/gemm-bench';
import type { Model } from '../../../shared/model/types';
import { timeLinear, type Direction } from '../gpu/linear';

export interface LinearRow {
  group: WeightGroup;
  direction: Direction;
  rows: number;
  in: number;
  out: number;
  /** GFLOP/s (2·rows·in·out per call) of each backend measured. */
  gflops: Partial<Record<BackendKind, number>>;
  ort_gflops: number;
}

export interface LinearResult {
  rows: LinearRow[];
  /** Each backend's own description (device, threads, weight precision). */
  devices: Partial<Record<BackendKind, string>>;
}

const DIRECTIONS: Direction[] = ['forward', 'backward'];

export async function benchLinear(model: Model, kinds: readonly BackendKind[], rowCounts: readonly number[], seconds: number, log: (line: string) => void): Promise<LinearResult> {
  const rows: LinearRow[] = [];
  for (const group of WEIGHT_GROUPS) {
    const { inDim, outDim } = groupShape(model.config, group);
    for (const direction of DIRECTIONS) for (const n of rowCounts) rows.push({ group, direction, rows: n, in: inDim, out: outDim, gflops: {}, ort_gflops: NaN });
  }
  const devices: LinearResult['devices'] = {};
  for (const kind of kinds) {
    const backend = await createBackend(model, kind);
    devices[kind] = backend.info.device;
    const weightBytes = backend instanceof WebGpuBackend && backend.precision === 'f16' ? 2 : 4;
    try {
      for (const row of rows) {
        const t = await timeLinear(backend, model.config, row.group, row.direction, row.rows, { seconds, minCalls: 1, warmup: 1, weightBytes });
        row.gflops[kind] = t.gflops;
      }
    } finally {
      await backend.dispose();
    }
    log(`linear on ${kind} (${devices[kind]}) done`);
  }
  // dx [rows, in] = dy [rows, out] · W [out, in]: as a MatMul, "in" and "out" swap
  const shapes: GemmShape[] = rows.map((r) => (r.direction === 'forward' ? { rows: r.rows, inDim: r.in, outDim: r.out } : { rows: r.rows, inDim: r.out, outDim: r.in }));
  const gemm = await benchGemm(shapes, { secondsPerShape: seconds, warmup: 1 });
  gemm.forEach((g, i) => (rows[i].ort_gflops = g.ort.gflops));
  log('onnxruntime MatMul done');
  return { rows, devices };
}
