import { describe, expect, it } from 'vitest';
import { UsageError } from '../args';
import { benchFinetuneCommand, cpuThreads, FULL } from './finetune';
import { batchingBetween, JOB_MIX, jobSpecs, jobsThatFit, maxLossDifference, parseStatCpuSeconds, parseVmHwm, promSum, syntheticSequences, type JobResult } from './finetune/plan';

describe('bench finetune helpers', () => {
  it('cycles the job mix with distinct seeds, mixing methods and ranks', () => {
    const jobs = jobSpecs(10);
    expect(jobs.map((j) => j.seed)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(jobs[8].name).toBe(JOB_MIX[0].name);
    expect(new Set(JOB_MIX.map((j) => j.method))).toEqual(new Set(['lora', 'dora', 'ia3']));
    expect(new Set(JOB_MIX.filter((j) => j.method === 'lora').map((j) => j.rank))).toEqual(new Set([4, 8, 16]));
  });

  it('makes deterministic next-token sequences in the vocabulary', () => {
    const a = syntheticSequences(3, 4, 16, 32000);
    expect(a).toEqual(syntheticSequences(3, 4, 16, 32000));
    expect(a).not.toEqual(syntheticSequences(4, 4, 16, 32000));
    for (const s of a) {
      expect(s.tokens).toHaveLength(16);
      expect(s.targets.slice(0, -1)).toEqual(s.tokens.slice(1));
      expect(s.mask.every((m) => m === 1)).toBe(true);
      expect(s.tokens.every((t) => t >= 0 && t < 32000)).toBe(true);
    }
    expect(syntheticSequences(1, 1, 8, 300)[0].tokens.every((t) => t < 300)).toBe(true);
  });

  it('reads peak RSS and CPU time from /proc text', () => {
    expect(parseVmHwm('Name:\tnode\nVmPeak:\t 2000 kB\nVmHWM:\t    1536 kB\nVmRSS:\t 1000 kB\n')).toBe(1536 * 1024);
    expect(parseVmHwm('Name:\tnode\n')).toBeUndefined();
    expect(parseStatCpuSeconds('42 (node (x) y) S 1 42 42 0 -1 4194304 98 0 0 0 250 50 0 0 20 0 1 0')).toBe(3);
  });

  it('counts the jobs that fit a budget', () => {
    const GiB = 2 ** 30;
    expect(jobsThatFit(8 * GiB, { server: 1.5 * GiB, client: 0.25 * GiB, dedicated: 1.3 * GiB })).toEqual({ shared: 26, dedicated: 6 });
    expect(jobsThatFit(1 * GiB, { server: 1.5 * GiB, client: 0.25 * GiB, dedicated: 1.3 * GiB })).toEqual({ shared: 0, dedicated: 0 });
  });

  it('sums Prometheus samples and derives batching between two scrapes', () => {
    const scrape = (n: number) =>
      [
        '# HELP symbiosis_batch_rows Rows per batched op',
        `symbiosis_batch_rows_sum{group="qkv",direction="forward"} ${128 * n}`,
        `symbiosis_batch_rows_count{group="qkv",direction="forward"} ${n}`,
        `symbiosis_batch_rows_sum{group="qkv",direction="backward"} ${64 * n}`,
        `symbiosis_batch_rows_count{group="qkv",direction="backward"} ${n}`,
        `symbiosis_batch_sessions_sum{group="qkv"} ${3 * n}`,
        `symbiosis_batch_sessions_count{group="qkv"} ${2 * n}`,
        // a device backend's attention batches: not GEMMs, left out
        `symbiosis_batch_rows_sum{group="attention",direction="forward"} ${9 * n}`,
        `symbiosis_batch_rows_count{group="attention",direction="forward"} ${n}`,
        `symbiosis_batch_sessions_sum{group="attention"} ${9 * n}`,
        `symbiosis_batch_sessions_count{group="attention"} ${n}`,
      ].join('\n');
    expect(promSum(scrape(2), 'symbiosis_batch_rows_count')).toBe(6);
    expect(batchingBetween(scrape(1), scrape(3))).toEqual({ sessionsPerOp: 1.5, rowsPerForwardOp: 128, rowsPerBackwardOp: 64 });
  });

  it('compares loss trajectories job by job', () => {
    const job = (losses: number[]): JobResult => ({ name: 'j', steps: losses.length, tokens: 0, seconds: 1, startMs: 0, endMs: 1, losses, maxRssBytes: 0 });
    expect(maxLossDifference([job([1, 2]), job([3])], [job([1, 2.5]), job([2.9])])).toBeCloseTo(0.5);
    expect(maxLossDifference([job([1, 2])], [job([1])])).toBeNaN();
  });

  it('refuses a --backend other than cpu or webgpu, naming it, before starting anything', async () => {
    await expect(benchFinetuneCommand.run(['--backend', 'tpu'])).rejects.toThrow(UsageError);
    await expect(benchFinetuneCommand.run(['--backend', 'tpu'])).rejects.toThrow(/--backend: "tpu" is not one of cpu, webgpu/);
  });

  it('gives each dedicated process its share of the cores and the server every core, unless told', () => {
    expect(cpuThreads(FULL, 2)).toEqual({ dedicated: 1, server: 2 }); // K = 8 on this machine
    expect(cpuThreads({ ...FULL, jobs: 4 }, 16)).toEqual({ dedicated: 4, server: 16 });
    expect(cpuThreads({ ...FULL, jobs: 3 }, 16)).toEqual({ dedicated: 5, server: 16 });
    expect(cpuThreads({ ...FULL, threads: 2, serverThreads: 1 }, 2)).toEqual({ dedicated: 2, server: 1 });
    expect(cpuThreads({ ...FULL, backend: 'webgpu' }, 2)).toBeUndefined();
  });

  it('refuses --threads and --server-threads for webgpu and a thread count below 1, naming them, before starting anything', async () => {
    await expect(benchFinetuneCommand.run(['--backend', 'webgpu', '--threads', '2'])).rejects.toThrow(/--threads applies to the cpu backend, not webgpu/);
    await expect(benchFinetuneCommand.run(['--backend', 'webgpu', '--server-threads', '2'])).rejects.toThrow(/--server-threads applies to the cpu backend, not webgpu/);
    await expect(benchFinetuneCommand.run(['--threads', '0'])).rejects.toThrow(/--threads/);
    await expect(benchFinetuneCommand.run(['--server-threads', '1.5'])).rejects.toThrow(/--server-threads/);
  });
});
