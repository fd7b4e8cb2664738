/**
 * `symbiosis bench finetune`: K concurrent fine-tuning jobs on ONE shared base-model server
 * against K dedicated processes that each load their own copy of the base model, side by side
 * in one run, on the same machine, on a random model of init-random's 110m shape (written once
 * to .dev/models/bench-random-110m).
 *
 * Both setups run the same jobs the same way: a mix of methods and ranks (plan.ts JOB_MIX:
 * LoRA r4/r8/r16 on various modules, DoRA r4/r8, IA3), each its own OS process (worker.ts),
 * stepping ONE sequence of `seqLen` synthetic tokens per optimizer step (gradAccum 1), as a
 * memory-limited tenant would, through the same Trainer (a training SplitSession per step):
 *
 *   shared     a real `symbiosis serve` process (spawnServe, cpu backend) runs the frozen model
 *              for everyone and batches rows of sessions waiting at the same layer into one GEMM;
 *              each job is a client over a WebSocket (tokens signed by the bench, no edge),
 *              CLIENT_NICE nicer than the server, so as not to preempt the server they all wait on;
 *   dedicated  each job loads the model directory itself and runs the server's engine in its own
 *              process through an in-process channelPair + Connection: the same code, no split.
 *
 * Every worker loads and takes `warmupSteps` untimed steps (a throwaway copy of its adapter on
 * 8-token sequences); when all are ready the bench starts them together and times `steps` steps
 * each, from step 0 of the schedule. Reported:
 *
 *   memory_ratio             Σ peak RSS (VmHWM) dedicated / (server + K clients), at K jobs;
 *   throughput_ratio         aggregate training tokens/s (every job's tokens over the makespan,
 *                            start signal → last job done), shared / dedicated;
 *   (diagnostics)            the server's batching during the timed steps (sessions and rows per
 *                            GEMM, from its /metrics), the CPU each setup got (/proc/<pid>/stat,
 *                            the server's main thread apart) and tokens per CPU-second, which
 *                            does not depend on how much of the machine other load leaves;
 *   jobs_fit_ratio           jobs that fit `budget` GiB from the measured peaks — shared:
 *                            ⌊(budget − server) / mean client⌋, dedicated: ⌊budget / mean
 *                            dedicated⌋ — shared / dedicated;
 *   adapters_per_hour_ratio  DERIVED, not measured: fit count × the mean per-job step rate
 *                            measured at K jobs, shared / dedicated. It assumes each of the jobs
 *                            that fit keeps the per-job rate seen at K; on a fixed machine the
 *                            aggregate rate does not grow with the job count, so read it as
 *                            "jobs_fit_ratio × per-job speed ratio".
 *
 * The two setups train identically (same adapters, seeds, data, schedule); loss_max_abs_diff
 * checks it (float noise from different GEMM batch shapes only). No assertion on any number.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { randomModel } from '../../shared/model/random';
import { newTokenId } from '../../shared/protocol/token';
import { numberOption, parseCommand, threadsOption, UsageError, type Command } from '../args';
import { presetConfig, writeRandomModelDir } from '../init-random';
import { spawnServe } from '../stack/serve-process';
import { CLIENT_NICE, cpuSeconds, JobProcess, peakRss, runJobs } from './finetune/processes';
import { aggregateTokensPerSecond, batchingBetween, jobSpecs, jobsThatFit, maxLossDifference, mean, ratio, stepsPerHourPerJob, sum, type SetupRun } from './finetune/plan';
import { fmt } from './stats';

const ROOT = resolve(import.meta.dirname, '../..');
const PRESET = '110m';
const MODEL_DIR = join(ROOT, `.dev/models/bench-random-${PRESET}`);
const GIB = 2 ** 30;

export interface Plan {
  /** Concurrent jobs in each setup (memory and throughput are both measured at this K). */
  jobs: number;
  /** Untimed steps per job once loaded (onnxruntime's first runs, JIT). */
  warmupSteps: number;
  /** Timed optimizer steps per job. */
  steps: number;
  /** Input tokens per sequence (one sequence per step). */
  seqLen: number;
  /** The memory budget of jobs_fit_ratio, GiB. */
  budgetGiB: number;
  /** The backend of the shared server and of every dedicated process alike. */
  backend: 'cpu' | 'webgpu';
  /**
   * cpu backend: onnxruntime intra-op threads of each dedicated process; absent: its share of the
   * cores, ⌊cores / K⌋ and at least 1. K processes of more threads than that oversubscribe the
   * machine: a GEMM split across threads that other processes preempt waits at its join
   * (measured here, K = 8 on 2 cores, full runs, two alternating pairs: 255.7 / 261.6 tokens/s
   * at 1 thread each, 244.4 / 254.0 at 2).
   */
  threads?: number;
  /**
   * cpu backend: the shared server's onnxruntime threads; absent: every core, as \`symbiosis
   * serve\` runs by default. Its main thread orders every GEMM and is the shared setup's limit
   * (90–93 % busy at 1 thread), so a GEMM on two cores shortens what it waits on: 241.1 / 244.2 /
   * 245.8 tokens/s at 2 threads against 221.1 / 229.0 / 223.8 at 1 (full runs, alternating; main
   * thread 75 % busy, the clients' share of the cores unchanged). Each setup thus runs at its
   * best measured setting; until the ninth session both took the same count (1).
   */
  serverThreads?: number;
}

export const FULL: Plan = { jobs: 8, warmupSteps: 1, steps: 6, seqLen: 64, budgetGiB: 8, backend: 'cpu' };
export const QUICK: Plan = { ...FULL, steps: 1 };

const log = (line: string): void => void process.stderr.write(`bench finetune: ${line}\n`);
const gib = (bytes: number) => `${fmt(bytes / GIB)} GiB`;
const mib = (bytes: number) => `${fmt(bytes / 2 ** 20, 0)} MiB`;

/** init-random's 110m preset, seed 0, written once (atomically) under .dev/models. */
async function ensureBenchModel(dir: string): Promise<number> {
  const config = presetConfig(PRESET);
  if (!['config.json', 'model.safetensors'].every((f) => existsSync(join(dir, f)))) {
    log(`writing the random ${PRESET} model to ${dir} (once)`);
    const partial = `${dir}.partial-${process.pid}`;
    await mkdir(partial, { recursive: true });
    await writeRandomModelDir(partial, randomModel(config, 0));
    await rm(dir, { recursive: true, force: true });
    await rename(partial, dir);
  }
  // The parameter count from the shape alone (no weights needed): embed (tied) + layers + final norm.
  const { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize } = config;
  const kv = (dim / nHeads) * nKvHeads;
  return vocabSize * dim + nLayers * (dim * dim * 2 + 2 * dim * kv + 3 * dim * hiddenDim + 2 * dim) + dim;
}

const metrics = async (url: string) => (await fetch(`${url}/metrics`)).text();

function backendOption(value: string | undefined): Plan['backend'] | undefined {
  if (value === undefined || value === 'cpu' || value === 'webgpu') return value;
  throw new UsageError(`--backend: "${value}" is not one of cpu, webgpu`);
}

/** The cpu backend's thread counts (Plan.threads, Plan.serverThreads) on `cores`; nothing for webgpu (its threads are not onnxruntime's). */
export function cpuThreads(plan: Plan, cores = availableParallelism()): { dedicated: number; server: number } | undefined {
  if (plan.backend !== 'cpu') return undefined;
  return { dedicated: plan.threads ?? Math.max(1, Math.floor(cores / plan.jobs)), server: plan.serverThreads ?? cores };
}

function workerBase(plan: Plan) {
  return { seqLen: plan.seqLen, warmupSteps: plan.warmupSteps, steps: plan.steps, backend: plan.backend, threads: cpuThreads(plan)?.dedicated };
}

export async function runShared(plan: Plan, secret: string): Promise<SetupRun> {
  const t0 = performance.now();
  const server = await spawnServe({ modelDir: MODEL_DIR, secret, port: 0, backend: plan.backend, threads: cpuThreads(plan)?.server });
  try {
    log(`shared: server up at ${server.url} (${fmt((performance.now() - t0) / 1000, 1)} s); starting ${plan.jobs} client jobs`);
    const jobs = jobSpecs(plan.jobs).map((job) => new JobProcess({ kind: 'client', job, serverUrl: server.url, ...workerBase(plan) }, secret));
    const pid = server.child.pid;
    // The server's CPU time (all threads, and its main thread alone) and batching over the timed steps.
    let before = { metrics: '', cpu: NaN, main: NaN };
    let after = before;
    const read = async () => ({ metrics: await metrics(server.url), cpu: cpuSeconds(pid) ?? NaN, main: cpuSeconds(pid, pid) ?? NaN });
    const measured = await runJobs(jobs, {
      ready: async () => {
        log(`shared: all ${plan.jobs} jobs ready after ${fmt((performance.now() - t0) / 1000, 1)} s; timing ${plan.steps} steps each`);
        before = await read();
      },
      done: async () => void (after = await read()),
    });
    const serverRss = peakRss(pid);
    if (serverRss === undefined) throw new Error("cannot read the server's peak RSS (/proc/<pid>/status): this bench needs Linux");
    return {
      jobs: measured.results,
      makespan: measured.makespan,
      serverRss,
      jobRss: measured.rss,
      jobCpuSeconds: measured.cpuSeconds,
      serverCpuSeconds: after.cpu - before.cpu,
      serverMainThreadCpuSeconds: after.main - before.main,
      batching: batchingBetween(before.metrics, after.metrics),
    };
  } finally {
    await server.stop();
  }
}

export async function runDedicated(plan: Plan, secret: string): Promise<SetupRun> {
  const t0 = performance.now();
  log(`dedicated: starting ${plan.jobs} processes, each loading its own copy of the model`);
  const jobs = jobSpecs(plan.jobs).map((job) => new JobProcess({ kind: 'dedicated', job, modelDir: MODEL_DIR, ...workerBase(plan) }, secret));
  const measured = await runJobs(jobs, { ready: () => log(`dedicated: all ${plan.jobs} jobs ready after ${fmt((performance.now() - t0) / 1000, 1)} s; timing ${plan.steps} steps each`) });
  return { jobs: measured.results, makespan: measured.makespan, jobRss: measured.rss, jobCpuSeconds: measured.cpuSeconds };
}

export async function benchFinetune(plan: Plan): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const params = await ensureBenchModel(MODEL_DIR);
  log(`model ${MODEL_DIR}: ${params.toLocaleString('en-US')} parameters; ${plan.jobs} jobs × (${plan.warmupSteps} warm-up + ${plan.steps} timed steps) of 1 × ${plan.seqLen} tokens, per setup`);
  const secret = `bench-${newTokenId()}-secret`;

  const shared = await runShared(plan, secret);
  const sharedTps = aggregateTokensPerSecond(shared);
  log(`shared: ${fmt(sharedTps, 1)} tokens/s aggregate, makespan ${fmt(shared.makespan, 1)} s`);
  const dedicated = await runDedicated(plan, secret);
  const dedicatedTps = aggregateTokensPerSecond(dedicated);
  log(`dedicated: ${fmt(dedicatedTps, 1)} tokens/s aggregate, makespan ${fmt(dedicated.makespan, 1)} s`);

  const serverRss = shared.serverRss!;
  const sharedTotal = serverRss + sum(shared.jobRss);
  const dedicatedTotal = sum(dedicated.jobRss);
  const clientMean = mean(shared.jobRss);
  const dedicatedMean = mean(dedicated.jobRss);
  const fit = jobsThatFit(plan.budgetGiB * GIB, { server: serverRss, client: clientMean, dedicated: dedicatedMean });
  const sharedRate = stepsPerHourPerJob(shared);
  const dedicatedRate = stepsPerHourPerJob(dedicated);
  const sharedFitPerHour = fit.shared * sharedRate;
  const dedicatedFitPerHour = fit.dedicated * dedicatedRate;

  return {
    bench: 'finetune',
    backend: plan.backend,
    threads: cpuThreads(plan)?.dedicated ?? null,
    server_threads: cpuThreads(plan)?.server ?? null,
    preset: PRESET,
    params,
    jobs: plan.jobs,
    job_mix: shared.jobs.map((j) => j.name),
    seq_len: plan.seqLen,
    grad_accum: 1,
    shared_client_nice_above_server: CLIENT_NICE,
    warmup_steps: plan.warmupSteps,
    steps: plan.steps,
    budget_gib: plan.budgetGiB,
    memory_ratio: ratio(dedicatedTotal, sharedTotal),
    throughput_ratio: ratio(sharedTps, dedicatedTps),
    jobs_fit_ratio: ratio(fit.shared, fit.dedicated),
    adapters_per_hour_ratio: ratio(sharedFitPerHour, dedicatedFitPerHour),
    shared_server_rss_bytes: serverRss,
    shared_client_rss_bytes: shared.jobRss,
    shared_total_rss_bytes: sharedTotal,
    dedicated_rss_bytes: dedicated.jobRss,
    dedicated_total_rss_bytes: dedicatedTotal,
    shared_tokens_per_s: sharedTps,
    dedicated_tokens_per_s: dedicatedTps,
    shared_makespan_s: shared.makespan,
    dedicated_makespan_s: dedicated.makespan,
    shared_steps_per_hour_per_job: sharedRate,
    dedicated_steps_per_hour_per_job: dedicatedRate,
    shared_jobs_fit: fit.shared,
    dedicated_jobs_fit: fit.dedicated,
    shared_fit_steps_per_hour: sharedFitPerHour,
    dedicated_fit_steps_per_hour: dedicatedFitPerHour,
    shared_sessions_per_gemm: shared.batching!.sessionsPerOp,
    shared_rows_per_forward_gemm: shared.batching!.rowsPerForwardOp,
    shared_rows_per_backward_gemm: shared.batching!.rowsPerBackwardOp,
    shared_server_cpu_cores: shared.serverCpuSeconds! / shared.makespan,
    shared_server_main_thread_busy: shared.serverMainThreadCpuSeconds! / shared.makespan,
    shared_clients_cpu_cores: shared.jobCpuSeconds / shared.makespan,
    dedicated_cpu_cores: dedicated.jobCpuSeconds / dedicated.makespan,
    // Tokens per CPU-second of the bench's own processes: what each setup gets done with the CPU
    // it actually got (other load on the machine changes that share, not this efficiency).
    shared_tokens_per_cpu_s: sum(shared.jobs.map((j) => j.tokens)) / (shared.serverCpuSeconds! + shared.jobCpuSeconds),
    dedicated_tokens_per_cpu_s: sum(dedicated.jobs.map((j) => j.tokens)) / dedicated.jobCpuSeconds,
    shared_job_seconds: shared.jobs.map((j) => j.seconds),
    dedicated_job_seconds: dedicated.jobs.map((j) => j.seconds),
    loss_first_mean: mean(shared.jobs.map((j) => j.losses[0])),
    loss_last_mean: mean(shared.jobs.map((j) => j.losses[j.losses.length - 1])),
    loss_max_abs_diff: maxLossDifference(shared.jobs, dedicated.jobs),
    seconds: (performance.now() - t0) / 1000,
  };
}

function table(r: Awaited<ReturnType<typeof benchFinetune>>): string {
  const n = (k: string, d = 2) => fmt(r[k] as number, d);
  const b = (k: string) => gib(r[k] as number);
  const clients = r.shared_client_rss_bytes as number[];
  const dedicated = r.dedicated_rss_bytes as number[];
  const range = (xs: number[]) => `${mib(Math.min(...xs))}–${mib(Math.max(...xs))}`;
  const rows: [string, string][] = [
    ['model', `${r.preset} random Llama, ${(r.params as number).toLocaleString('en-US')} params (float32); ${r.backend} backend in both setups${r.threads === null ? '' : `; onnxruntime threads: the server ${r.server_threads}, each dedicated process ${r.threads}`}`],
    ['jobs', `${r.jobs}: ${(r.job_mix as string[]).join(', ')}; the shared setup's clients ${r.shared_client_nice_above_server} nicer than the server`],
    ['each step', `1 sequence × ${r.seq_len} tokens (grad accum 1); ${r.warmup_steps} untimed warm-up (8 tokens) + ${r.steps} timed steps per job`],
    ['shared: server peak RSS', b('shared_server_rss_bytes')],
    ['shared: client peak RSS', `${range(clients)} each (mean ${mib(mean(clients))})`],
    ['shared: total', b('shared_total_rss_bytes')],
    ['dedicated: peak RSS', `${range(dedicated)} each`],
    ['dedicated: total', b('dedicated_total_rss_bytes')],
    ['memory_ratio', `${n('memory_ratio')} (Σ peak RSS, dedicated / shared, ${r.jobs} jobs)`],
    ['shared: training', `${n('shared_tokens_per_s', 1)} tokens/s aggregate (makespan ${n('shared_makespan_s', 1)} s)`],
    ['dedicated: training', `${n('dedicated_tokens_per_s', 1)} tokens/s aggregate (makespan ${n('dedicated_makespan_s', 1)} s)`],
    ['shared: batching', `${n('shared_sessions_per_gemm')} sessions per GEMM on average; rows per GEMM: forward ${n('shared_rows_per_forward_gemm', 1)}, backward ${n('shared_rows_per_backward_gemm', 1)} (timed steps, from /metrics)`],
    ['CPU during timed steps', `shared: server ${n('shared_server_cpu_cores')} cores (main thread busy ${fmt(100 * (r.shared_server_main_thread_busy as number), 0)}%), clients ${n('shared_clients_cpu_cores')} cores; dedicated: ${n('dedicated_cpu_cores')} cores`],
    ['tokens per CPU-second', `shared ${n('shared_tokens_per_cpu_s', 1)} (server + clients), dedicated ${n('dedicated_tokens_per_cpu_s', 1)}`],
    ['throughput_ratio', `${n('throughput_ratio')} (aggregate tokens/s, shared / dedicated, ${r.jobs} jobs)`],
    [`jobs in ${r.budget_gib} GiB`, `shared ${r.shared_jobs_fit} = ⌊(budget − server) / mean client⌋, dedicated ${r.dedicated_jobs_fit} = ⌊budget / mean dedicated⌋`],
    ['jobs_fit_ratio', n('jobs_fit_ratio')],
    ['steps/hour per job', `shared ${n('shared_steps_per_hour_per_job', 0)}, dedicated ${n('dedicated_steps_per_hour_per_job', 0)} (measured, ${r.jobs} jobs)`],
    ['steps/hour, jobs that fit', `shared ${n('shared_fit_steps_per_hour', 0)}, dedicated ${n('dedicated_fit_steps_per_hour', 0)} (DERIVED: fit count × measured per-job rate)`],
    ['adapters_per_hour_ratio', `${n('adapters_per_hour_ratio')} (derived, not measured)`],
    ['loss', `mean ${n('loss_first_mean', 3)} → ${n('loss_last_mean', 3)} over the timed steps; shared vs dedicated differ by ≤ ${fmt(r.loss_max_abs_diff as number, 6)}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

export const benchFinetuneCommand: Command = {
  name: 'finetune',
  summary: 'K concurrent fine-tuning jobs on one shared server vs K dedicated model copies (memory, throughput)',
  usage: `Usage: symbiosis bench finetune [--quick] [--json] [--jobs K] [--steps N] [--seq-len L] [--budget-gib G] [--backend cpu|webgpu] [--threads T] [--server-threads T]

Runs K fine-tuning jobs (a mix: LoRA r4/r8/r16, DoRA r4/r8, IA3), each its own OS process,
two ways on this machine, one after the other in one run, on a random 110M-parameter model
(init-random's 110m preset, written once to .dev/models/bench-random-110m):
  shared     one \`symbiosis serve\` process runs the frozen model; the K jobs are its clients
             (10 nicer than it: they must not preempt the server they all wait on)
  dedicated  each job loads its own copy of the model and runs the same engine in-process
Each job trains one sequence of L tokens per step (grad accum 1), with the same Trainer,
adapters, data and schedule in both setups. Reports peak RSS per process (VmHWM; Linux), the
aggregate training tokens/s, and from them memory_ratio, throughput_ratio, jobs_fit_ratio and
adapters_per_hour_ratio (derived: jobs that fit the budget × measured per-job step rate).
Prints a table to stdout; progress goes to stderr. Full: about a minute; --quick: under one.

Options:
  --quick          ${QUICK.steps} timed step${QUICK.steps === 1 ? "" : "s"} per job instead of ${FULL.steps} (still K = ${QUICK.jobs}, L = ${QUICK.seqLen})
  --jobs K         concurrent jobs per setup (default ${FULL.jobs})
  --steps N        timed steps per job (overrides --quick)
  --seq-len L      tokens per sequence (default ${FULL.seqLen})
  --budget-gib G   the memory budget of jobs_fit_ratio (default ${FULL.budgetGiB})
  --backend B      cpu (default) or webgpu, for the shared server and every dedicated process alike:
                   on a machine with a GPU, the comparison the mission is about (peak RSS is host
                   memory only: device copies of the weights are not in it)
  --threads T      cpu: onnxruntime intra-op threads of each dedicated process (default: its
                   share of the cores, ⌊cores / K⌋ and at least 1)
  --server-threads T
                   cpu: the shared server's onnxruntime threads (default: every core, as serve)
  --json           also print the results as one JSON object, the last line of stdout`,
  async run(argv) {
    const parsed = parseCommand(this, argv, {
      quick: { type: 'boolean' },
      json: { type: 'boolean' },
      jobs: { type: 'string' },
      steps: { type: 'string' },
      'seq-len': { type: 'string' },
      'budget-gib': { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' },
      'server-threads': { type: 'string' },
    });
    if (!parsed) return 0;
    const v = parsed.values;
    const base = v.quick ? QUICK : FULL;
    const backend = backendOption(v.backend) ?? base.backend;
    const plan: Plan = {
      ...base,
      jobs: numberOption('jobs', v.jobs, z.number().int().min(1).max(64)) ?? base.jobs,
      steps: numberOption('steps', v.steps, z.number().int().min(1)) ?? base.steps,
      seqLen: numberOption('seq-len', v['seq-len'], z.number().int().min(2).max(1024)) ?? base.seqLen,
      budgetGiB: numberOption('budget-gib', v['budget-gib'], z.number().positive()) ?? base.budgetGiB,
      backend,
      threads: threadsOption(v.threads, backend) ?? base.threads,
      serverThreads: threadsOption(v['server-threads'], backend, 'server-threads') ?? base.serverThreads,
    };
    const result = await benchFinetune(plan);
    process.stdout.write(table(result) + '\n');
    if (v.json) process.stdout.write(JSON.stringify(result) + '\n');
    return 0;
  },
};
