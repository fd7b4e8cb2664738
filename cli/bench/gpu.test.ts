/**
 * `symbiosis bench gpu --quick --allow-software --json` on whatever adapter Dawn finds — lavapipe
 * on the development and CI machines (installed by .ci/install-vulkan.sh; without it this fails
 * with the install hint, as the backend's tests do). Checks the shape of the JSON line, never a
 * timing: the numbers of a software adapter mean nothing, only that each was measured.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { positive, runCommand as run } from './testing';
import { probeAdapter } from '../../gpu-server/backend/webgpu/adapter';
import { benchGpuCommand, type GpuBenchResult } from './gpu';

const adapter = await probeAdapter();


describe('bench gpu', () => {
  afterEach(() => vi.restoreAllMocks());

  it.skipIf(!adapter?.software)('refuses a software adapter without --allow-software', async () => {
    await expect(run(benchGpuCommand, ['--quick'])).rejects.toThrow(/software.*--allow-software/);
  });

  it('--quick --allow-software --json: a table, then one JSON line with every measurement', { timeout: 180_000 }, async () => {
    const { code, stdout } = await run(benchGpuCommand, ['--quick', '--allow-software', '--json']);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^adapter\s/);
    expect(stdout).toMatch(/peak \(f32 FMA\)/);
    const r = JSON.parse(lines[lines.length - 1]) as GpuBenchResult;

    expect(r).toMatchObject({ bench: 'gpu', plan: 'quick', models: [{ preset: '6m' }] });
    expect(r.adapter.summary).toBe(adapter!.device);
    expect(r.adapter.features).toBeInstanceOf(Array);
    for (const v of Object.values(r.adapter.limits)) expect(positive(v)).toBe(true);
    expect(r.webgpu_device).toMatch(/weights$/);
    expect(r.cpu_device).toMatch(/onnxruntime/);
    for (const v of [r.peak_gflops, r.peak.ms_per_dispatch, r.peak.flops, r.seconds]) expect(positive(v)).toBe(true);

    // Every weight group, both directions, 1 and 4 rows.
    expect(r.gemm).toHaveLength(5 * 2 * 2);
    expect(new Set(r.gemm.map((g) => `${g.group} ${g.direction} ${g.rows}`)).size).toBe(r.gemm.length);
    for (const g of r.gemm) {
      for (const k of ['in', 'out', 'gflops', 'fraction_of_peak', 'weight_gbps', 'ms_per_call', 'calls'] as const) expect(positive(g[k]), `${g.group} ${g.direction} ${g.rows}: ${k}`).toBe(true);
    }

    // 1 and 4 sessions on each backend, and their ratio.
    expect(r.decode.map((d) => `${d.backend} ${d.sessions}`).sort()).toEqual(['cpu 1', 'cpu 4', 'webgpu 1', 'webgpu 4']);
    for (const d of r.decode) for (const k of ['tokens_per_s', 'tokens', 'seconds'] as const) expect(positive(d[k]), `${d.backend} ${d.sessions}: ${k}`).toBe(true);
    expect(r.decode_webgpu_vs_cpu.map((d) => d.sessions)).toEqual([1, 4]);
    for (const d of r.decode_webgpu_vs_cpu) expect(positive(d.ratio)).toBe(true);
    // Training: 1 and 2 sessions on each backend, their ratio, and the losses compared.
    expect(r.training.map((d) => `${d.backend} ${d.sessions}`).sort()).toEqual(['cpu 1', 'cpu 2', 'webgpu 1', 'webgpu 2']);
    for (const d of r.training) for (const k of ['tokens_per_s', 'tokens', 'seconds'] as const) expect(positive(d[k]), `training ${d.backend} ${d.sessions}: ${k}`).toBe(true);
    expect(r.training_webgpu_vs_cpu.map((d) => d.sessions)).toEqual([1, 2]);
    for (const d of r.training_webgpu_vs_cpu) expect(positive(d.ratio)).toBe(true);
    expect(r.training_loss_max_rel_diff).toHaveLength(1);
    expect(r.training_loss_max_rel_diff[0].value).toBeGreaterThanOrEqual(0);
    expect(stdout).toMatch(/training, 2 session\(s\)\s+webgpu \S+ \/ cpu \S+ tokens\/s/);
    // Reported, not judged: even f32 weights sum in another order than onnxruntime, and a near tie can flip a token.
    expect(r.greedy_agreement).toHaveLength(1);
    const [{ leading_equal: equal, compared }] = r.greedy_agreement;
    expect(positive(compared)).toBe(true);
    expect(Number.isInteger(equal) && equal >= 0 && equal <= compared).toBe(true);
  });
});
