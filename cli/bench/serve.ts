/**
 * `symbiosis bench serve`: what split execution costs and what batching buys, measured side by
 * side in one run on a random model (init-random's 30m preset; 6m with --quick), through a
 * real server (startServer, cpu backend, port 0, in this process) and real WebSocket clients
 * (connect) in a second process, the tenants' side (tenant-process.ts): there, as at the edge,
 * each session's LoRA runs at the taps, beside the server rather than on its thread.
 *
 *   batched_vs_single           aggregate decode tokens/s of 32 concurrent base-only sessions
 *                               over that of 1 session;
 *   multi_adapter_vs_base       32 sessions, each with its own LoRA (r 8, q_proj + v_proj, run
 *                               client-side at the taps), over 32 base-only sessions;
 *   sampled_vs_greedy           32 base-only sessions drawing their tokens (temperature 0.8,
 *                               top-p 0.9, on the server) over the same sessions decoding greedily
 *                               — what sampling over the vocabulary costs per token;
 *   cpu_gemm_vs_ort             geometric mean over the model's weight groups at 32 rows of the
 *                               backend's GEMM GFLOP/s over a bare onnxruntime MatMul (benchGemm);
 *   split_vs_inprocess_latency  per-token decode latency of one stream with a LoRA through the
 *                               server over loopback, over the in-process reference `generate`
 *                               on the LoRA-merged model (> 1: split execution is slower).
 *
 * The floor. One decode token costs ≈ 2 × P FLOPs, P the parameters of the linear layers (every
 * layer's qkv, o, gate/up, down, plus the LM head; the embedding lookup is free; attention over
 * a short context adds ~4·nLayers·ctx·dim, negligible here) — P ≈ params for a tied model. A
 * batched step of B rows reads every weight once: 4·P bytes (float32) for 2·B·P FLOPs, i.e.
 * B/2 FLOP per byte (16 at B = 32). So a step takes at least max(2·B·P / peak FLOP/s,
 * 4·P / memory bandwidth): at B = 1 decode is bandwidth-bound (≈ 4·P bytes per token), at
 * B = 32 on a few CPU cores it is compute-bound, and aggregate tokens/s can grow with B only until
 * the GEMMs reach the cores' peak. decode_gflops = 2·P × (32-session aggregate tokens/s) / 1e9
 * is the rate actually achieved, to compare with the GEMM rows' GFLOP/s (the ceiling, not
 * counting the per-step work outside the GEMMs: attention, norms, sampling, framing).
 *
 * No assertion on any number: this reports, it does not judge.
 */
import { mergeAdapter } from '../../shared/adapters';
import { randomModel } from '../../shared/model/random';
import type { Model, ModelConfig } from '../../shared/model/types';
import { generate } from '../../shared/reference';
import type { SamplingParams } from '../../shared/reference/sampling';
import { createBackend } from '../../gpu-server/backend';
import { benchGemm } from '../../gpu-server/backend/gemm-bench';
import { groupShape } from '../../gpu-server/backend/groups';
import { WEIGHT_GROUPS } from '../../gpu-server/backend/types';
import { parseCommand, type Command } from '../args';
import { benchLora } from './bench-lora';
import { PROMPT, withServer, type DecodeRun } from './decode';
import { fmt, median } from './stats';
import { TenantProcess } from './tenant-process';
import { parameterCount, presetConfig } from '../init-random';

const SESSIONS = 32;
/** What sampled_vs_greedy's sessions draw with: a common chat setting. */
const SAMPLED: SamplingParams = { temperature: 0.8, topP: 0.9 };

interface Plan {
  preset: string;
  steps: number; // decode steps per session
  gemmSeconds: number; // benchGemm's measuring time per shape
  rounds: number; // measurement rounds, each running every decode setup once, one after the other
}

const FULL: Plan = { preset: '30m', steps: 64, gemmSeconds: 2, rounds: 5 };
const QUICK: Plan = { preset: '6m', steps: 32, gemmSeconds: 1, rounds: 1 };

/** Per-token decode latency (ms) of the reference generate, greedy, prefill excluded. */
function inProcessLatency(model: Model, steps: number): { ms: number; ids: number[] } {
  const times: number[] = [];
  const { ids } = generate({ model, promptIds: PROMPT, maxTokens: steps + 1, sampling: { temperature: 0 }, stopIds: [], onToken: () => times.push(performance.now()) });
  return { ms: (times[times.length - 1] - times[0]) / steps, ids };
}

/** Parameters of the linear layers: the FLOPs of a decode token are twice this. */
function linearParams(config: ModelConfig): number {
  let n = 0;
  for (const g of WEIGHT_GROUPS) {
    const { inDim, outDim } = groupShape(config, g);
    n += inDim * outDim * (g === 'lmHead' ? 1 : config.nLayers);
  }
  return n;
}

interface Round {
  single: DecodeRun;
  batched: DecodeRun;
  multi: DecodeRun;
  sampled: DecodeRun;
  split: DecodeRun;
}

const log = (line: string) => process.stderr.write(`bench serve: ${line}\n`);

export async function benchServe(plan: Plan): Promise<Record<string, unknown>> {
  const config = presetConfig(plan.preset);
  const t0 = performance.now();
  const model = randomModel(config, 0);
  const params = parameterCount(config);
  const P = linearParams(config);
  log(`preset ${plan.preset}: ${params.toLocaleString('en-US')} parameters (${P.toLocaleString('en-US')} in linear layers), ${plan.steps} decode steps per session`);

  const backend = await createBackend(model, 'cpu');
  // The sessions' LoRAs, by seed: session i has benchLora(config, i + 1), built in the tenants' process.
  const loras = Array.from({ length: SESSIONS }, (_, i) => i + 1);
  const base: null[] = Array(SESSIONS).fill(null);
  const tenants = new TenantProcess();
  const rounds: Round[] = [];
  try {
    await withServer(model, backend, async (server, secret) => {
      const decode = (loraSeeds: (number | null)[], steps: number, sampling?: SamplingParams) => tenants.decode({ url: server.url, secret, config, loraSeeds, limits: { steps }, sampling });
      // Warm-up (ORT sessions, JIT) at both batch sizes and along the tap path; not measured.
      await decode(base, 2);
      await decode([loras[0]], 2);
      // Each round runs every setup once, back to back, so a round's ratios compare runs made
      // under the same load; the reported ratios are the medians over rounds.
      for (let i = 0; i < plan.rounds; i++) {
        const single = await decode([null], plan.steps);
        const batched = await decode(base, plan.steps);
        const multi = await decode(loras, plan.steps);
        const sampled = await decode(base, plan.steps, SAMPLED);
        const split = await decode([loras[0]], plan.steps);
        rounds.push({ single, batched, multi, sampled, split });
        log(`round ${i + 1}/${plan.rounds}: 1 session ${fmt(single.tokensPerSecond, 1)}, ${SESSIONS} base ${fmt(batched.tokensPerSecond, 1)}, ${SESSIONS} LoRA ${fmt(multi.tokensPerSecond, 1)}, ${SESSIONS} sampled ${fmt(sampled.tokensPerSecond, 1)} tokens/s; 1 LoRA stream ${fmt((1000 * split.seconds) / plan.steps)} ms/token`);
      }
    });
  } finally {
    await tenants.stop();
    await backend.dispose();
  }

  const merged = mergeAdapter(model, benchLora(config, loras[0]));
  inProcessLatency(merged, 2); // warm-up
  const local = inProcessLatency(merged, plan.steps);
  const tps = (pick: (r: Round) => DecodeRun) => median(rounds.map((r) => pick(r).tokensPerSecond));
  const splitMs = median(rounds.map((r) => (1000 * r.split.seconds) / plan.steps));
  const split = rounds[rounds.length - 1].split;
  log(`in-process reference with the merged LoRA: ${fmt(local.ms)} ms/token`);

  const shapes = WEIGHT_GROUPS.map((group) => ({ group, rows: SESSIONS, ...groupShape(config, group) }));
  const gemm = await benchGemm(
    shapes.map(({ rows, inDim, outDim }) => ({ rows, inDim, outDim })),
    { secondsPerShape: plan.gemmSeconds },
  );
  const gemmRatio = Math.exp(gemm.reduce((s, r) => s + Math.log(r.ratio), 0) / gemm.length);

  const result = {
    bench: 'serve',
    preset: plan.preset,
    params,
    linear_params: P,
    sessions: SESSIONS,
    decode_steps: plan.steps,
    rounds: plan.rounds,
    single_tokens_per_s: tps((r) => r.single),
    batched_tokens_per_s: tps((r) => r.batched),
    multi_adapter_tokens_per_s: tps((r) => r.multi),
    batched_vs_single: median(rounds.map((r) => r.batched.tokensPerSecond / r.single.tokensPerSecond)),
    multi_adapter_vs_base: median(rounds.map((r) => r.multi.tokensPerSecond / r.batched.tokensPerSecond)),
    batched_vs_single_per_round: rounds.map((r) => r.batched.tokensPerSecond / r.single.tokensPerSecond),
    multi_adapter_vs_base_per_round: rounds.map((r) => r.multi.tokensPerSecond / r.batched.tokensPerSecond),
    sampled_tokens_per_s: tps((r) => r.sampled),
    sampled_vs_greedy: median(rounds.map((r) => r.sampled.tokensPerSecond / r.batched.tokensPerSecond)),
    cpu_gemm_vs_ort: gemmRatio,
    split_ms_per_token: splitMs,
    inprocess_ms_per_token: local.ms,
    split_vs_inprocess_latency: splitMs / local.ms,
    split_matches_inprocess: split.ids[0].length === local.ids.length && split.ids[0].every((t, i) => t === local.ids[i]),
    decode_gflops: (2 * P * tps((r) => r.batched)) / 1e9,
    weight_bytes_per_batched_step: 4 * P,
    gemm: gemm.map((r, i) => ({ group: shapes[i].group, rows: r.rows, in: r.inDim, out: r.outDim, backend_gflops: r.backend.gflops, ort_gflops: r.ort.gflops, ratio: r.ratio })),
    seconds: (performance.now() - t0) / 1000,
  };
  return result;
}

function table(r: Awaited<ReturnType<typeof benchServe>>): string {
  const n = (k: string, d = 2) => fmt(r[k] as number, d);
  const rows: [string, string][] = [
    ['model', `${r.preset} random Llama, ${(r.params as number).toLocaleString('en-US')} params, ${r.decode_steps} decode steps, median of ${r.rounds} round${r.rounds === 1 ? '' : 's'}`],
    ['1 session, base', `${n('single_tokens_per_s', 1)} tokens/s`],
    [`${SESSIONS} sessions, base`, `${n('batched_tokens_per_s', 1)} tokens/s (${n('decode_gflops')} GFLOP/s of decode)`],
    [`${SESSIONS} sessions, ${SESSIONS} LoRAs`, `${n('multi_adapter_tokens_per_s', 1)} tokens/s`],
    ['batched_vs_single', `${n('batched_vs_single')} (rounds: ${(r.batched_vs_single_per_round as number[]).map((x) => fmt(x)).join(', ')})`],
    ['multi_adapter_vs_base', `${n('multi_adapter_vs_base')} (rounds: ${(r.multi_adapter_vs_base_per_round as number[]).map((x) => fmt(x)).join(', ')})`],
    [`${SESSIONS} sessions, sampled`, `${n('sampled_tokens_per_s', 1)} tokens/s (temperature ${SAMPLED.temperature}, top-p ${SAMPLED.topP})`],
    ['sampled_vs_greedy', n('sampled_vs_greedy')],
    ['cpu_gemm_vs_ort', `${n('cpu_gemm_vs_ort', 3)} (geometric mean, ${SESSIONS} rows)`],
    ['split, 1 LoRA stream', `${n('split_ms_per_token')} ms/token`],
    ['in-process, merged', `${n('inprocess_ms_per_token')} ms/token${r.split_matches_inprocess ? '' : ' (greedy tokens differ from the split run)'}`],
    ['split_vs_inprocess_latency', n('split_vs_inprocess_latency')],
  ];
  for (const g of r.gemm as { group: string; rows: number; in: number; out: number; backend_gflops: number; ort_gflops: number; ratio: number }[]) {
    rows.push([`gemm ${g.group} ${g.rows}×${g.in}→${g.out}`, `backend ${fmt(g.backend_gflops, 1)} / ort ${fmt(g.ort_gflops, 1)} GFLOP/s = ${fmt(g.ratio, 3)}`]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

export const benchServeCommand: Command = {
  name: 'serve',
  summary: 'batched vs single, multi-adapter vs base, split vs in-process decode; backend GEMM vs ORT',
  usage: `Usage: symbiosis bench serve [--quick] [--json]

Makes a random model in memory (init-random's 30m preset; 6m with --quick), starts a base-model
server in this process (cpu backend, a free port) and measures, over real WebSocket sessions:
  batched_vs_single           ${SESSIONS} concurrent base sessions' aggregate decode tokens/s over 1 session's
  multi_adapter_vs_base       ${SESSIONS} sessions, each with its own LoRA (r 8, q_proj, v_proj), over ${SESSIONS} base ones
  sampled_vs_greedy           ${SESSIONS} base sessions drawing tokens (temperature ${SAMPLED.temperature}, top-p ${SAMPLED.topP}) over ${SESSIONS} greedy ones
  cpu_gemm_vs_ort             the backend's GEMM over onnxruntime's MatMul on the model's shapes (geometric mean)
  split_vs_inprocess_latency  per-token latency of one LoRA stream through the server over the
                              in-process reference generate on the merged model
Each of ${FULL.rounds} rounds (--quick: ${QUICK.rounds}) runs every setup once, back to back; the ratios are
the medians of the rounds' ratios, so a change of load between runs moves one round, not the result.
Prints a table to stdout; progress goes to stderr. Takes a few minutes (--quick: under a minute).

Options:
  --quick   a ~6M-parameter model and ${QUICK.steps} decode steps (default ${FULL.steps})
  --json    also print the results as one JSON object, the last line of stdout`,
  async run(argv) {
    const parsed = parseCommand(this, argv, { quick: { type: 'boolean' }, json: { type: 'boolean' } });
    if (!parsed) return 0;
    const result = await benchServe(parsed.values.quick ? QUICK : FULL);
    process.stdout.write(table(result) + '\n');
    if (parsed.values.json) process.stdout.write(JSON.stringify(result) + '\n');
    return 0;
  },
};
