/**
 * `bench finetune`'s pure parts: the job mix, the synthetic training data, the memory-budget
 * arithmetic and the ratios (tested in cli/bench/finetune.test.ts). Nothing here measures.
 */
import type { Sequence } from '../../../shared/train/data';
import type { TrainConfig } from '../../../shared/train/trainer';
import { Rng } from '../../../shared/util/rng';

export type Method = 'lora' | 'dora' | 'ia3';

/** One fine-tuning job: its adapter and its data seed (job i of a run uses JOB_MIX[i % length]). */
export interface JobSpec {
  name: string;
  method: Method;
  /** LoRA/DoRA rank (unused by IA3). */
  rank: number;
  targetModules: string[];
  seed: number;
}

const QV = ['q_proj', 'v_proj'];
const ALL_LINEAR = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

/** Mixed ranks and methods, as independent tenants would bring them. */
export const JOB_MIX: readonly Omit<JobSpec, 'seed'>[] = [
  { name: 'lora-r4-qv', method: 'lora', rank: 4, targetModules: QV },
  { name: 'lora-r8-qv', method: 'lora', rank: 8, targetModules: QV },
  { name: 'lora-r16-qv', method: 'lora', rank: 16, targetModules: QV },
  { name: 'dora-r8-qv', method: 'dora', rank: 8, targetModules: QV },
  { name: 'ia3-kvd', method: 'ia3', rank: 0, targetModules: ['k_proj', 'v_proj', 'down_proj'] },
  { name: 'lora-r8-qkvo', method: 'lora', rank: 8, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] },
  { name: 'lora-r16-all', method: 'lora', rank: 16, targetModules: ALL_LINEAR },
  { name: 'dora-r4-qv', method: 'dora', rank: 4, targetModules: QV },
];

export function jobSpecs(k: number): JobSpec[] {
  return Array.from({ length: k }, (_, i) => ({ ...JOB_MIX[i % JOB_MIX.length], seed: i + 1 }));
}

/** The same schedule for every job and both setups: total = warm-up steps (untimed) + measured steps. */
export function trainConfig(totalSteps: number): TrainConfig {
  return { lr: 1e-3, warmupSteps: 1, totalSteps, minRatio: 0.1, weightDecay: 0.01, maxGradNorm: 1, gradAccum: 1 };
}

/**
 * `count` sequences of `seqLen` inputs over a random model's vocabulary (it has no tokenizer):
 * windows of one seeded token stream in which every id is followed by a fixed successor with
 * probability 3/4, so there is something to learn. Every target is trained (mask 1).
 */
export function syntheticSequences(seed: number, count: number, seqLen: number, vocab: number): Sequence[] {
  const rng = new Rng(seed);
  const low = 3; // past BOS/EOS/UNK
  const span = Math.min(vocab, 4096) - low;
  const successor = (id: number) => low + ((id * 7919 + 13) % span);
  const out: Sequence[] = [];
  for (let s = 0; s < count; s++) {
    const ids = [1];
    while (ids.length < seqLen + 1) ids.push(rng.nextFloat() < 0.75 ? successor(ids[ids.length - 1]) : low + rng.nextInt(span));
    out.push({ tokens: ids.slice(0, -1), targets: ids.slice(1), mask: ids.slice(1).map(() => 1) });
  }
  return out;
}

/** Peak resident set size in bytes from the text of /proc/<pid>/status (VmHWM), or undefined. */
export function parseVmHwm(status: string): number | undefined {
  const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

export interface FitCounts {
  /** floor((budget − server) / client), at least 0. */
  shared: number;
  /** floor(budget / dedicated), at least 0. */
  dedicated: number;
}

/** Jobs that fit a memory budget, from measured peak RSS per process (bytes). */
export function jobsThatFit(budgetBytes: number, rss: { server: number; client: number; dedicated: number }): FitCounts {
  return {
    shared: Math.max(0, Math.floor((budgetBytes - rss.server) / rss.client)),
    dedicated: Math.max(0, Math.floor(budgetBytes / rss.dedicated)),
  };
}

export const mean = (xs: readonly number[]): number => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
export const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/** A ratio that reads as Infinity/NaN rather than throwing when the denominator is 0. */
export const ratio = (a: number, b: number): number => a / b;

/** What one job reports when its measured steps are done. */
export interface JobResult {
  name: string;
  steps: number;
  tokens: number;
  /** From its first measured step's start to its last one's end. */
  seconds: number;
  /** Wall-clock (epoch ms) of those two instants, to line the processes up. */
  startMs: number;
  endMs: number;
  losses: number[];
  /** process.resourceUsage().maxRSS, in bytes (the fallback when /proc is not there). */
  maxRssBytes: number;
}

export interface SetupRun {
  jobs: JobResult[];
  /** From the start signal to the last job's end, seconds. */
  makespan: number;
  /** Peak RSS per process, bytes: the server (shared setup only), then each job. */
  serverRss?: number;
  jobRss: number[];
  /** CPU seconds the job processes used during the timed steps. */
  jobCpuSeconds: number;
  /** Shared only: the server's CPU seconds during the timed steps, all threads and its main (JavaScript) thread. */
  serverCpuSeconds?: number;
  serverMainThreadCpuSeconds?: number;
  /** Shared only: what the server's batcher stacked during the timed steps. */
  batching?: ReturnType<typeof batchingBetween>;
}

/** Aggregate training tokens/s: every measured token over the makespan. */
export const aggregateTokensPerSecond = (run: SetupRun): number => sum(run.jobs.map((j) => j.tokens)) / run.makespan;

/** Mean over the jobs of each job's own optimizer steps per hour. */
export const stepsPerHourPerJob = (run: SetupRun): number => mean(run.jobs.map((j) => (3600 * j.steps) / j.seconds));

/** Largest |loss difference| between the same job's steps in two runs (the same training, split or not). */
export function maxLossDifference(a: readonly JobResult[], b: readonly JobResult[]): number {
  let d = 0;
  a.forEach((ja, i) => ja.losses.forEach((l, s) => (d = Math.max(d, Math.abs(l - (b[i]?.losses[s] ?? NaN))))));
  return d;
}

/** Σ over label sets of a Prometheus sample (e.g. symbiosis_batch_sessions_sum), from /metrics text. */
export function promSum(text: string, name: string, labelFilter: (labels: string) => boolean = () => true): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line.trim());
    if (m && m[1] === name && labelFilter(m[2] ?? '')) total += Number(m[3]);
  }
  return total;
}

/** Mean sessions per batched GEMM and rows per forward GEMM between two /metrics scrapes. */
export function batchingBetween(before: string, after: string): { sessionsPerOp: number; rowsPerForwardOp: number; rowsPerBackwardOp: number } {
  const d = (name: string, f?: (l: string) => boolean) => promSum(after, name, f) - promSum(before, name, f);
  // GEMMs only: a device backend's attention batches are labelled group="attention".
  const gemm = (l: string) => !l.includes('group="attention"');
  const fwd = (l: string) => gemm(l) && l.includes('direction="forward"');
  const bwd = (l: string) => gemm(l) && l.includes('direction="backward"');
  return {
    sessionsPerOp: d('symbiosis_batch_sessions_sum', gemm) / d('symbiosis_batch_sessions_count', gemm),
    rowsPerForwardOp: d('symbiosis_batch_rows_sum', fwd) / d('symbiosis_batch_rows_count', fwd),
    rowsPerBackwardOp: d('symbiosis_batch_rows_sum', bwd) / d('symbiosis_batch_rows_count', bwd),
  };
}

/** CPU seconds (user + system) from the text of /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat (USER_HZ = 100). */
export function parseStatCpuSeconds(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / 100 : undefined;
}
