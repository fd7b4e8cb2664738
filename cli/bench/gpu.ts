/**
 * `symbiosis bench gpu`: what the webgpu backend gets out of the card it runs on, measured in one
 * process on random models (init-random's 30m and 110m presets; 6m with --quick).
 *
 *   peak     the card's f32 FMA throughput (gpu/fma-peak.wgsl): the ceiling for kernels that
 *            accumulate in f32 on the shader cores, which is all WebGPU reaches;
 *   gemm     the backend's linear (forward) and linearBackward on each weight group at 1, 32 and
 *            256 rows, per call as the engine calls it (upload and readback included), in GFLOP/s
 *            and as a fraction of peak; at 1 row a call reads every weight once for 2 FLOPs each,
 *            so weight_gbps (the weights' bytes over the call's time) is the figure to read there;
 *   decode   aggregate greedy decode tokens/s of 1, 8 and 32 concurrent base-only sessions
 *            through a real server (startServer, port 0) and WebSocket clients, on the webgpu
 *            backend and on the cpu backend side by side, the same model in the same process;
 *   training aggregate training tokens/s (forward + backward through the taps, 64-token
 *            sequences, a LoRA per session) of 1 and 8 concurrent sessions through the same
 *            server, webgpu and cpu side by side — the shared server's speed on a GPU, which is
 *            where `bench finetune`'s throughput ratio would have to come from.
 *
 * A software adapter (lavapipe) is refused unless --allow-software: its numbers say nothing about
 * a GPU. No assertion on any number: this reports, it does not judge.
 */
import { createBackend, WebGpuBackend, type Backend } from '../../gpu-server/backend';
import { WEIGHT_GROUPS } from '../../gpu-server/backend/types';
import { randomModel } from '../../shared/model/random';
import type { Model } from '../../shared/model/types';
import { parseCommand, type Command } from '../args';
import { parameterCount, presetConfig } from '../init-random';
import { adapterRecord, requireAdapter, type AdapterRecord } from './gpu/adapter-info';
import { withServer, type DecodeLimits, type DecodeRun } from './decode';
import { TenantProcess } from './tenant-process';
import { trainSteps, type TrainLimits, type TrainRun } from './train-steps';
import { timeLinear, type Direction, type LinearOptions } from './gpu/linear';
import { measurePeak, type PeakOptions, type PeakResult } from './gpu/peak';
import { fmt } from './stats';

interface Plan {
  name: 'full' | 'quick';
  /** In the order run: the smaller model first, so that a cut-short run still reports something whole. */
  presets: string[];
  rows: number[];
  sessions: number[];
  peak: PeakOptions;
  gemm: Omit<LinearOptions, 'weightBytes'>;
  decode: DecodeLimits;
  training: { sessions: number[]; limits: TrainLimits };
}

/** An estimate (never run on one): ~4–5 minutes on an H200, most of it the cpu side and building the 110m model; every timed loop is capped. */
const FULL: Plan = {
  name: 'full',
  presets: ['30m', '110m'],
  rows: [1, 32, 256],
  sessions: [1, 8, 32],
  peak: { targetMs: 50, trials: 5 },
  gemm: { seconds: 0.25, minCalls: 3, warmup: 2 },
  decode: { steps: 64, maxSeconds: 8 },
  training: { sessions: [1, 8], limits: { steps: 4, seqLen: 64, maxSeconds: 8 } },
};

/** For lavapipe (tests, a dry run of the device script): a minute or two on two cores. */
const QUICK: Plan = {
  name: 'quick',
  presets: ['6m'],
  rows: [1, 4],
  sessions: [1, 4],
  peak: { targetMs: 20, trials: 3 },
  gemm: { seconds: 0.05, minCalls: 2, warmup: 1 },
  decode: { steps: 8, maxSeconds: 5 },
  training: { sessions: [1, 2], limits: { steps: 1, seqLen: 8, maxSeconds: 5 } },
};

const DIRECTIONS: Direction[] = ['forward', 'backward'];

const log = (line: string) => process.stderr.write(`bench gpu: ${line}\n`);
/** Three significant digits below 100 (a software adapter's GEMMs run at 0.01–1 GFLOP/s), whole numbers above. */
const sig = (x: number) => (!Number.isFinite(x) ? String(x) : Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3));

interface GemmRow {
  preset: string;
  group: string;
  direction: Direction;
  rows: number;
  in: number;
  out: number;
  gflops: number;
  fraction_of_peak: number;
  weight_gbps: number;
  ms_per_call: number;
  calls: number;
}

/** A decode or a training measurement of one backend at one session count. */
interface RateRow {
  preset: string;
  backend: 'webgpu' | 'cpu';
  sessions: number;
  tokens_per_s: number;
  tokens: number;
  seconds: number;
}

export interface GpuBenchResult {
  bench: 'gpu';
  plan: Plan['name'];
  adapter: AdapterRecord;
  webgpu_device: string;
  cpu_device: string;
  peak_gflops: number;
  peak: { ms_per_dispatch: number; workgroups: number; iterations: number; flops: number };
  models: { preset: string; params: number }[];
  gemm: GemmRow[];
  decode: RateRow[];
  decode_webgpu_vs_cpu: { preset: string; sessions: number; ratio: number }[];
  training: RateRow[];
  training_webgpu_vs_cpu: { preset: string; sessions: number; ratio: number }[];
  /** The first timed step's loss of every session, webgpu against cpu: reported, not judged (f16 weights differ more). */
  training_loss_max_rel_diff: { preset: string; value: number }[];
  /** Session 0 of the 1-session runs: greedy tokens equal from the start on both backends (f16 weights may diverge). */
  greedy_agreement: { preset: string; leading_equal: number; compared: number }[];
  seconds: number;
}

/**
 * On one server: decode (its path warmed at the largest batch first) at every session count, the
 * sessions opened by the tenants' process as in bench serve, then training at every count.
 */
async function serveAll(backend: Backend, model: Model, preset: string, plan: Plan): Promise<{ decode: DecodeRun[]; training: TrainRun[] }> {
  const tenants = new TenantProcess();
  try {
    return await withServer(model, backend, async (server, secret) => {
      const decode = (sessions: number, limits: DecodeLimits) => tenants.decode({ url: server.url, secret, config: model.config, loraSeeds: Array(sessions).fill(null), limits });
      await decode(Math.max(...plan.sessions), { steps: 2, maxSeconds: plan.decode.maxSeconds });
      const decodeRuns: DecodeRun[] = [];
      for (const n of plan.sessions) {
        const run = await decode(n, plan.decode);
        log(`${preset} ${backend.info.name}, ${n} session(s): ${sig(run.tokensPerSecond)} tokens/s (${run.tokens} tokens in ${fmt(run.seconds)} s)`);
        decodeRuns.push(run);
      }
      const training: TrainRun[] = [];
      for (const n of plan.training.sessions) {
        const run = await trainSteps(server, secret, model.config, n, plan.training.limits);
        log(`${preset} ${backend.info.name}, training ${n} session(s): ${sig(run.tokensPerSecond)} tokens/s (${run.tokens} tokens in ${fmt(run.seconds)} s)`);
        training.push(run);
      }
      return { decode: decodeRuns, training };
    });
  } finally {
    await tenants.stop();
  }
}

function leadingEqual(a: number[], b: number[]): { leading_equal: number; compared: number } {
  const compared = Math.min(a.length, b.length);
  let k = 0;
  while (k < compared && a[k] === b[k]) k++;
  return { leading_equal: k, compared };
}

export async function benchGpu(plan: Plan, allowSoftware: boolean): Promise<GpuBenchResult> {
  const t0 = performance.now();
  const adapter = await requireAdapter();
  const record = adapterRecord(adapter);
  log(`adapter: ${record.summary}`);
  if (record.software && !allowSoftware) {
    throw new Error(`the WebGPU adapter is software (${record.summary}): its numbers say nothing about a GPU; pass --allow-software to run anyway`);
  }
  const peak: PeakResult = await measurePeak(adapter, plan.peak);
  log(`peak: ${sig(peak.gflops)} GFLOP/s f32 FMA (${peak.workgroups}×256 invocations × ${peak.iterations} iterations in ${fmt(peak.msPerDispatch)} ms)`);

  const models: GpuBenchResult['models'] = [];
  const gemm: GemmRow[] = [];
  const decodeRows: RateRow[] = [];
  const ratios: GpuBenchResult['decode_webgpu_vs_cpu'] = [];
  const trainingRows: RateRow[] = [];
  const trainingRatios: GpuBenchResult['training_webgpu_vs_cpu'] = [];
  const lossDiffs: GpuBenchResult['training_loss_max_rel_diff'] = [];
  const agreement: GpuBenchResult['greedy_agreement'] = [];
  let webgpuDevice = '';
  let cpuDevice = '';
  for (const preset of plan.presets) {
    const config = presetConfig(preset);
    const model = randomModel(config, 0);
    models.push({ preset, params: parameterCount(config) });
    log(`${preset}: ${models[models.length - 1].params.toLocaleString('en-US')} parameters`);

    const gpu = await WebGpuBackend.create(model);
    webgpuDevice = gpu.info.device;
    let gpuRuns: { decode: DecodeRun[]; training: TrainRun[] };
    try {
      const weightBytes = gpu.precision === 'f16' ? 2 : 4;
      for (const group of WEIGHT_GROUPS) {
        for (const direction of DIRECTIONS) {
          for (const rows of plan.rows) {
            const t = await timeLinear(gpu, config, group, direction, rows, { ...plan.gemm, weightBytes });
            gemm.push({ preset, group, direction, rows, in: t.inDim, out: t.outDim, gflops: t.gflops, fraction_of_peak: t.gflops / peak.gflops, weight_gbps: t.weightGBps, ms_per_call: t.msPerCall, calls: t.calls });
          }
          const last = gemm.slice(-plan.rows.length);
          log(`${preset} gemm ${group} ${direction}: ${last.map((r) => `${r.rows} rows ${sig(r.gflops)} GFLOP/s`).join(', ')}`);
        }
      }
      gpuRuns = await serveAll(gpu, model, preset, plan);
    } finally {
      await gpu.dispose();
    }

    const cpu = await createBackend(model, 'cpu');
    cpuDevice = cpu.info.device;
    let cpuRuns: { decode: DecodeRun[]; training: TrainRun[] };
    try {
      cpuRuns = await serveAll(cpu, model, preset, plan);
    } finally {
      await cpu.dispose();
    }

    const compare = (gpuSide: (DecodeRun | TrainRun)[], cpuSide: (DecodeRun | TrainRun)[], rows: RateRow[], out: GpuBenchResult['decode_webgpu_vs_cpu']) =>
      gpuSide.forEach((g, i) => {
        const { sessions } = g;
        for (const [backend, run] of [['webgpu', g], ['cpu', cpuSide[i]]] as const) {
          rows.push({ preset, backend, sessions, tokens_per_s: run.tokensPerSecond, tokens: run.tokens, seconds: run.seconds });
        }
        out.push({ preset, sessions, ratio: g.tokensPerSecond / cpuSide[i].tokensPerSecond });
      });
    compare(gpuRuns.decode, cpuRuns.decode, decodeRows, ratios);
    compare(gpuRuns.training, cpuRuns.training, trainingRows, trainingRatios);
    agreement.push({ preset, ...leadingEqual(gpuRuns.decode[0].ids[0], cpuRuns.decode[0].ids[0]) });
    const losses = (runs: TrainRun[]) => runs.flatMap((r) => r.losses);
    const [gl, cl] = [losses(gpuRuns.training), losses(cpuRuns.training)];
    lossDiffs.push({ preset, value: Math.max(...gl.map((l, i) => Math.abs(l - cl[i]) / Math.abs(cl[i]))) });
  }

  return {
    bench: 'gpu',
    plan: plan.name,
    adapter: record,
    webgpu_device: webgpuDevice,
    cpu_device: cpuDevice,
    peak_gflops: peak.gflops,
    peak: { ms_per_dispatch: peak.msPerDispatch, workgroups: peak.workgroups, iterations: peak.iterations, flops: peak.flops },
    models,
    gemm,
    decode: decodeRows,
    decode_webgpu_vs_cpu: ratios,
    training: trainingRows,
    training_webgpu_vs_cpu: trainingRatios,
    training_loss_max_rel_diff: lossDiffs,
    greedy_agreement: agreement,
    seconds: (performance.now() - t0) / 1000,
  };
}

export function table(r: GpuBenchResult): string {
  const lines: [string, string][] = [
    ['adapter', r.adapter.summary],
    ['webgpu backend', r.webgpu_device],
    ['cpu backend', r.cpu_device],
    ['peak (f32 FMA)', `${sig(r.peak_gflops)} GFLOP/s`],
  ];
  const rowsList = [...new Set(r.gemm.map((g) => g.rows))];
  for (const { preset, params } of r.models) {
    lines.push([`${preset} model`, `${params.toLocaleString('en-US')} params; gemm GFLOP/s (fraction of peak; GB/s of weights at 1 row) at ${rowsList.join(' / ')} rows`]);
    for (const group of WEIGHT_GROUPS) {
      for (const direction of DIRECTIONS) {
        const cells = r.gemm.filter((g) => g.preset === preset && g.group === group && g.direction === direction);
        if (cells.length === 0) continue;
        const c = cells[0];
        const text = cells.map((g) => `${sig(g.gflops)} (${sig(g.fraction_of_peak)}${g.rows === 1 ? `; ${sig(g.weight_gbps)} GB/s` : ''})`).join(' / ');
        lines.push([`  ${group} ${direction} ${c.in}→${c.out}`, text]);
      }
    }
    for (const { sessions, ratio } of r.decode_webgpu_vs_cpu.filter((d) => d.preset === preset)) {
      const tps = (backend: string) => r.decode.find((d) => d.preset === preset && d.sessions === sessions && d.backend === backend)!.tokens_per_s;
      lines.push([`  decode, ${sessions} session(s)`, `webgpu ${sig(tps('webgpu'))} / cpu ${sig(tps('cpu'))} tokens/s = ${sig(ratio)}×`]);
    }
    const a = r.greedy_agreement.find((g) => g.preset === preset)!;
    lines.push(['  greedy tokens, webgpu vs cpu', `${a.leading_equal} of ${a.compared} equal from the start`]);
    for (const { sessions, ratio } of r.training_webgpu_vs_cpu.filter((d) => d.preset === preset)) {
      const tps = (backend: string) => r.training.find((d) => d.preset === preset && d.sessions === sessions && d.backend === backend)!.tokens_per_s;
      lines.push([`  training, ${sessions} session(s)`, `webgpu ${sig(tps('webgpu'))} / cpu ${sig(tps('cpu'))} tokens/s = ${sig(ratio)}×`]);
    }
    lines.push(['  training loss, webgpu vs cpu', `max relative difference ${sig(r.training_loss_max_rel_diff.find((d) => d.preset === preset)!.value)}`]);
  }
  lines.push(['took', `${fmt(r.seconds, 1)} s`]);
  const width = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

export const benchGpuCommand: Command = {
  name: 'gpu',
  summary: "the card's f32 peak, the webgpu backend's GEMM as a fraction of it, decode tokens/s on webgpu vs cpu",
  usage: `Usage: symbiosis bench gpu [--quick] [--json] [--allow-software]

On the WebGPU adapter Dawn finds (npm webgpu, over Vulkan), measures:
  peak     the card's f32 FMA throughput (a dedicated kernel), GFLOP/s
  gemm     the webgpu backend's linear (forward) and linearBackward on every weight group of
           random models (init-random presets ${FULL.presets.join(', ')}) at ${FULL.rows.join(', ')} rows: GFLOP/s and fraction of peak
  decode   aggregate decode tokens/s of ${FULL.sessions.join(', ')} concurrent sessions through a real server
           (this process, a free port), on the webgpu backend and on the cpu backend side by side
  training aggregate training tokens/s (forward + backward, ${FULL.training.limits.seqLen}-token sequences, a LoRA each) of
           ${FULL.training.sessions.join(' and ')} concurrent sessions through the same server, webgpu and cpu side by side
Prints a table to stdout; progress goes to stderr. Estimated at 4–5 minutes on a data-centre GPU.

Options:
  --quick           the ${QUICK.presets.join(', ')} preset, ${QUICK.rows.join(' and ')} rows, ${QUICK.sessions.join(' and ')} sessions: a minute or two on lavapipe
  --allow-software  run on a software adapter (lavapipe) instead of refusing it
  --json            also print the results as one JSON object, the last line of stdout`,
  async run(argv) {
    const parsed = parseCommand(this, argv, { quick: { type: 'boolean' }, json: { type: 'boolean' }, 'allow-software': { type: 'boolean' } });
    if (!parsed) return 0;
    const result = await benchGpu(parsed.values.quick ? QUICK : FULL, parsed.values['allow-software'] === true);
    process.stdout.write(table(result) + '\n');
    if (parsed.values.json) process.stdout.write(JSON.stringify(result) + '\n');
    return 0;
  },
};
