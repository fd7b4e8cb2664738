/**
 * `symbiosis bench kernels --quick --json` on the tiny preset with a tiny time box, on every
 * backend that runs here (webgpu on lavapipe in CI, installed by .ci/install-vulkan.sh). Checks
 * the shape of the JSON line and that every number was measured, never a timing.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { positive, runCommand as run } from './testing';
import { usableBackendKinds } from '../../gpu-server/backend';
import { UsageError } from '../args';
import { benchKernelsCommand, type KernelsBenchResult } from './kernels';


describe('bench kernels', () => {
  afterEach(() => vi.restoreAllMocks());

  it('--quick --json: a table, then one JSON line with a positive number for every backend and op', async () => {
    const { code, stdout } = await run(benchKernelsCommand, ['--quick', '--json', '--preset', 'tiny', '--seconds', '0.002']);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^tiny random Llama, [\d,]+ params/);
    expect(stdout).toMatch(/^linear \(GFLOP\/s\)\s+rows\s+in→out/m);
    expect(stdout).toMatch(/^op\s+shape\s+unit/m);
    const r = JSON.parse(lines[lines.length - 1]) as KernelsBenchResult;

    const kinds = await usableBackendKinds();
    expect(r).toMatchObject({ bench: 'kernels', preset: 'tiny', backends: kinds, seconds_per_measurement: 0.002 });
    expect(positive(r.params) && positive(r.seconds)).toBe(true);
    for (const k of kinds) expect(r.devices[k]).toMatch(/\S/);

    // every weight group, both directions, 1 and 32 rows
    expect(r.linear).toHaveLength(5 * 2 * 2);
    expect(new Set(r.linear.map((l) => `${l.group} ${l.direction} ${l.rows}`)).size).toBe(r.linear.length);
    for (const l of r.linear) {
      const what = `${l.group} ${l.direction} ${l.rows}`;
      expect(Object.keys(l.gflops).sort(), what).toEqual([...kinds].sort());
      for (const v of [...Object.values(l.gflops), l.ort_gflops, l.in, l.out]) expect(positive(v), what).toBe(true);
    }

    const ops = r.ops.map((o) => o.op);
    expect(ops).toEqual(['rmsnorm', 'rmsnorm backward', 'rope', 'column split (qkv)', 'attention', 'attention', 'attention backward', 'silu·mul', 'silu·mul backward', 'residual add', 'embedding gather', 'softmax', 'cross-entropy', 'cross-entropy backward']);
    for (const o of r.ops) {
      const expected = [...(kinds.includes('webgpu') ? ['webgpu'] : []), 'reference', ...(['rope', 'attention', 'attention backward', 'silu·mul', 'silu·mul backward', 'cross-entropy backward'].includes(o.op) ? ['cpu'] : [])];
      expect(Object.keys(o.rate).sort(), o.op).toEqual(expected.sort());
      for (const impl of expected) expect(positive(o.rate[impl as keyof typeof o.rate]) && positive(o.ms[impl as keyof typeof o.ms]), `${o.op} ${impl}`).toBe(true);
      expect(o.unit).toBe(o.op.startsWith('attention') ? 'GFLOP/s' : 'GB/s');
    }
  });

  it('measures only the backends asked for', async () => {
    const { stdout } = await run(benchKernelsCommand, ['--json', '--preset', 'tiny', '--seconds', '0.001', '--backend', 'reference']);
    const r = JSON.parse(stdout.trimEnd().split('\n').pop()!) as KernelsBenchResult;
    expect(r.backends).toEqual(['reference']);
    expect(Object.keys(r.linear[0].gflops)).toEqual(['reference']);
    expect(r.ops.every((o) => Object.keys(o.rate).join() === 'reference')).toBe(true);
  });

  it('rejects an unknown backend, preset or time box before measuring anything', async () => {
    await expect(run(benchKernelsCommand, ['--backend', 'tpu'])).rejects.toThrow(new UsageError('--backend: unknown backend "tpu" (one of cpu, reference, webgpu)'));
    await expect(run(benchKernelsCommand, ['--preset', 'huge'])).rejects.toThrow(/--preset: unknown preset "huge"/);
    await expect(run(benchKernelsCommand, ['--seconds', '0'])).rejects.toThrow(/--seconds: "0" is not valid/);
  });
});
