/**
 * `symbiosis bench kernels`: every kernel of a decoder layer, on each backend side by side, in
 * one process on a random model (init-random's 30m preset; 6m with --quick).
 *
 *   linear  each backend's linear and linearBackward on every weight group at 1 and 32 rows, in
 *           GFLOP/s, next to onnxruntime-node's bare MatMul on the same product (kernels/linear.ts);
 *   ops     the layer's other ops (RMSNorm, RoPE, attention, silu·mul, residual add, embedding
 *           gather, softmax, cross-entropy; backwards too) at 32 rows, attention over a 256-position
 *           K/V cache: GB/s (bytes read + written per call over its time) or, for attention,
 *           GFLOP/s (kernels/ops.ts, kernels/bench-ops.ts) — the WebGPU kernels (on buffers already on the device; with
 *           --backend webgpu), the JS reference (with reference) and the server's fast JS versions
 *           (with cpu, whose engine runs them; RoPE, attention and silu·mul only).
 *
 * Every measurement is time-boxed (kernels/timing.ts). No assertion on any number: this reports,
 * it does not judge.
 */
import { z } from 'zod';
import { BACKEND_KINDS, usableBackendKinds, type BackendKind } from '../../gpu-server/backend';
import { randomModel } from '../../shared/model/random';
import { numberOption, parseCommand, UsageError, type Command } from '../args';
import { parameterCount, presetConfig } from '../init-random';
import { benchOps, opImpls, type OpRow } from './kernels/bench-ops';
import { benchLinear, type LinearRow } from './kernels/linear';
import { formatTable } from './kernels/table';

const LINEAR_ROWS = [1, 32];
const OP_ROWS = 32;
const CONTEXT = 256;
const MAX_REPS = 1000;

export interface KernelsBenchResult {
  bench: 'kernels';
  preset: string;
  params: number;
  backends: BackendKind[];
  devices: Partial<Record<BackendKind, string>> & { webgpu_ops?: string };
  seconds_per_measurement: number;
  linear: LinearRow[];
  ops: OpRow[];
  seconds: number;
}

const log = (line: string) => process.stderr.write(`bench kernels: ${line}\n`);

export async function benchKernels(preset: string, seconds: number, kinds: BackendKind[]): Promise<KernelsBenchResult> {
  const t0 = performance.now();
  const config = presetConfig(preset);
  const model = randomModel(config, 0);
  const params = parameterCount(config);
  log(`preset ${preset}: ${params.toLocaleString('en-US')} parameters; backends ${kinds.join(', ')}; ${seconds} s per measurement`);
  const linear = await benchLinear(model, kinds, LINEAR_ROWS, seconds, log);
  const ops = await benchOps(model, kinds, OP_ROWS, CONTEXT, { seconds, maxReps: MAX_REPS });
  log('ops done');
  return {
    bench: 'kernels',
    preset,
    params,
    backends: kinds,
    devices: { ...linear.devices, ...(ops.device ? { webgpu_ops: ops.device } : {}) },
    seconds_per_measurement: seconds,
    linear: linear.rows,
    ops: ops.rows,
    seconds: (performance.now() - t0) / 1000,
  };
}

function table(r: KernelsBenchResult): string {
  const impls = opImpls(r.backends);
  const head = [`${r.preset} random Llama, ${r.params.toLocaleString('en-US')} params, ${r.seconds_per_measurement} s per measurement`, ...Object.entries(r.devices).map(([k, v]) => `  ${k}: ${v}`)].join('\n');
  const linear = formatTable(
    ['linear (GFLOP/s)', 'rows', 'in→out', ...r.backends, 'ort MatMul'],
    r.linear.map((l) => [`${l.group} ${l.direction}`, String(l.rows), `${l.in}→${l.out}`, ...r.backends.map((k) => l.gflops[k]), l.ort_gflops]),
  );
  const ops = formatTable(
    ['op', 'shape', 'unit', ...impls],
    r.ops.map((o) => [o.op, o.shape, o.unit, ...impls.map((i) => o.rate[i])]),
  );
  return [head, '', linear, '', ops, '', `took ${r.seconds.toFixed(1)} s`].join('\n');
}

const FULL = { preset: '30m', seconds: 0.3 };
const QUICK = { preset: '6m', seconds: 0.05 };

export const benchKernelsCommand: Command = {
  name: 'kernels',
  summary: 'linear GFLOP/s per backend vs a bare onnxruntime MatMul; the other layer ops (WebGPU vs JS) in GB/s or GFLOP/s',
  usage: `Usage: symbiosis bench kernels [--quick] [--json] [--backend cpu|webgpu|reference ...] [--preset NAME] [--seconds S]

On a random model (init-random's ${FULL.preset} preset; ${QUICK.preset} with --quick), measures side by side:
  linear  each backend's linear and linearBackward on every weight group at ${LINEAR_ROWS.join(' and ')} rows,
          GFLOP/s, next to onnxruntime-node's bare MatMul on the same product
  ops     RMSNorm, RoPE, attention (over ${CONTEXT} cached positions), silu·mul, residual add, embedding
          gather, softmax, cross-entropy (and backwards) at ${OP_ROWS} rows, GB/s or GFLOP/s: the WebGPU
          kernels (with webgpu), the JS reference (with reference), the server's own ops (with cpu)
Prints a table to stdout; progress goes to stderr. --quick takes under a minute on lavapipe.

Options:
  --backend K   a backend to measure (repeatable; one of ${BACKEND_KINDS.join(', ')});
                default: every one that runs here (webgpu only where Dawn finds an adapter)
  --quick       the ${QUICK.preset} preset and ${QUICK.seconds} s per measurement (default ${FULL.preset}, ${FULL.seconds} s)
  --preset P    another init-random preset (e.g. tiny)
  --seconds S   time box of each measurement (at least one call is always made)
  --json        also print the results as one JSON object, the last line of stdout`,
  async run(argv) {
    const parsed = parseCommand(this, argv, {
      quick: { type: 'boolean' },
      json: { type: 'boolean' },
      backend: { type: 'string', multiple: true },
      preset: { type: 'string' },
      seconds: { type: 'string' },
    });
    if (!parsed) return 0;
    const plan = parsed.values.quick ? QUICK : FULL;
    const seconds = numberOption('seconds', parsed.values.seconds, z.number().positive().max(60)) ?? plan.seconds;
    const preset = parsed.values.preset ?? plan.preset;
    presetConfig(preset); // an unknown preset fails here, before anything runs
    const result = await benchKernels(preset, seconds, await backendKinds(parsed.values.backend));
    process.stdout.write(table(result) + '\n');
    if (parsed.values.json) process.stdout.write(JSON.stringify(result) + '\n');
    return 0;
  },
};

async function backendKinds(raw: string[] | undefined): Promise<BackendKind[]> {
  if (!raw) return usableBackendKinds();
  for (const k of raw) if (!(BACKEND_KINDS as readonly string[]).includes(k)) throw new UsageError(`--backend: unknown backend "${k}" (one of ${BACKEND_KINDS.join(', ')})`);
  return [...new Set(raw as BackendKind[])];
}
