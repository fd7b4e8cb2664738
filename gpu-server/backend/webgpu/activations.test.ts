/**
 * The engine on the webgpu backend keeps its activations on the device (activations.ts,
 * pending.ts): a decode step of many base-only sessions is one submit with one readback for all
 * of them; a session with an adapter submits at its taps only; and every tensor a step or a
 * session made is destroyed once they end. Lavapipe here and in CI; the greedy tokens are
 * checked against the reference backend's engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseFromModel, createLora } from '../../../shared/adapters';
import { TAP_GROUP } from '../../../shared/model/dims';
import { randomModel, tinyConfig } from '../../../shared/model/random';
import type { TapExchange } from '../../../shared/protocol/exchange';
import { AdapterTaps, planFromAdapter } from '../../../shared/split/adapter-taps';
import { Engine } from '../../engine';
import { joinColumns, splitColumns } from '../columns';
import { randomFloats } from '../../testing/numeric';
import { createBackend } from '../index';
import type { Backend } from '../types';
import type { WebGpuBackend } from './index';

const config = tinyConfig();
const model = randomModel(config, 31);
const claims = { tenant: 't', exp: 0, jti: 'j', limits: { maxSessions: 16, maxContext: 64, maxMemoryBytes: 2 ** 30 } };
const noTaps: TapExchange = {
  forward: () => Promise.reject(new Error('a base-only session has no taps')),
  backward: () => Promise.reject(new Error('a base-only session has no taps')),
};
const prompts = [[1, 5, 9], [2, 7, 3], [4, 4, 8], [6, 1, 2]].map((p) => Int32Array.from(p));

/** Greedy decode of every prompt at once, `steps` tokens; each round's submits counted by `count`. */
async function decodeAll(engine: Engine, steps: number, count: () => number): Promise<{ tokens: number[][]; submitsPerRound: number[] }> {
  const sessions = prompts.map(() => engine.open(claims, { mode: 'inference', maxContext: 32, taps: [] }));
  const tokens = prompts.map(() => [] as number[]);
  const submitsPerRound: number[] = [];
  let inputs = prompts;
  for (let step = 0; step < steps; step++) {
    const before = count();
    const results = await Promise.all(sessions.map((s, i) => engine.infer(s, noTaps, inputs[i], { logprobs: 0, returnLogits: false })));
    submitsPerRound.push(count() - before);
    results.forEach((r, i) => tokens[i].push(r.token));
    inputs = results.map((r) => Int32Array.of(r.token));
  }
  for (const s of sessions) engine.close(s);
  return { tokens, submitsPerRound };
}

describe('webgpu: the engine\'s activations on the device', () => {
  let gpu: WebGpuBackend;
  let reference: Backend;
  beforeAll(async () => {
    gpu = (await createBackend(model, 'webgpu', { weights: 'f32' })) as WebGpuBackend;
    reference = await createBackend(model, 'reference');
  });
  afterAll(async () => {
    await gpu?.dispose();
    await reference?.dispose();
  });
  const submits = () => gpu.activations.work.submits;

  it('decodes base-only sessions as the reference does, each step one submit for all of them', async () => {
    const onDevice = await decodeAll(new Engine(model, gpu, { maxBatchRows: 256 }), 4, submits);
    const onHost = await decodeAll(new Engine(model, reference, { maxBatchRows: 256 }), 4, () => 0);
    expect(onDevice.tokens).toEqual(onHost.tokens);
    expect(onDevice.submitsPerRound).toEqual([1, 1, 1, 1]);
  });

  it('a LoRA session submits only where it reads at a tap, and before the tenant answers', async () => {
    const lora = createLora({ modelConfig: config, r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'], seed: 3 });
    const taps = new AdapterTaps(lora, config, false);
    const log: number[] = [];
    const exchange: TapExchange = {
      async forward(tap) {
        log.push(submits());
        const modules = TAP_GROUP[tap.tap].modules.filter((m) => lora.module(tap.layer, m));
        await new Promise((answer) => setTimeout(answer, 5)); // the tenant answers a round trip later
        log.push(submits());
        return taps.forward(tap, modules);
      },
      backward: () => Promise.reject(new Error('inference has no backward')),
    };
    const engine = new Engine(model, gpu, { maxBatchRows: 256 });
    const session = engine.open(claims, { mode: 'inference', maxContext: 32, taps: planFromAdapter(lora, config) });
    const before = submits();
    await engine.infer(session, exchange, Int32Array.of(3), { logprobs: 0, returnLogits: false });
    // Per layer: the read of x for the tenant, then the frozen qkv GEMM submitted while the
    // tenant computes (one more submit between question and answer). Then the logits' read.
    const [asked, answered] = [log.filter((_, i) => i % 2 === 0), log.filter((_, i) => i % 2 === 1)];
    expect(asked.length).toBe(config.nLayers);
    asked.forEach((n, layer) => expect(answered[layer], `layer ${layer}`).toBe(n + 1));
    expect(submits() - before).toBe(2 * config.nLayers + 1);
    engine.close(session);
  });

  it('a DoRA session reads x and both modules\' y0 at a tap in one submit, forward and backward', async () => {
    const dora = createLora({ modelConfig: config, r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'], seed: 4, useDora: true, weight: baseFromModel(model).weight });
    const taps = new AdapterTaps(dora, config, true);
    const modules = (tap: { layer: number; tap: keyof typeof TAP_GROUP }) => TAP_GROUP[tap.tap].modules.filter((m) => dora.module(tap.layer, m));
    const asked: number[] = [];
    const exchange: TapExchange = {
      forward: async (tap) => (asked.push(submits()), taps.forward(tap, modules(tap))),
      backward: async (tap) => (asked.push(submits()), taps.backward(tap)),
    };
    const engine = new Engine(model, gpu, { maxBatchRows: 256 });
    const session = engine.open(claims, { mode: 'training', maxContext: 16, taps: planFromAdapter(dora, config) });
    const before = submits();
    const tokens = Int32Array.from([1, 2, 3, 4]);
    await engine.trainForward(session, exchange, tokens, Int32Array.from([2, 3, 4, 5]), new Float32Array(4).fill(1), { returnLogits: false });
    await engine.trainBackward(session, exchange);
    // Between one question to the tenant and the next of the same pass, exactly one submit: the
    // tensors a question carries (x and two y0 forward; two dL/dy backward) went out together.
    const gaps = (counts: number[]) => counts.slice(1).map((n, i) => n - counts[i]);
    expect(asked.length).toBe(2 * config.nLayers);
    expect(gaps([before, ...asked.slice(0, config.nLayers)])).toEqual(Array(config.nLayers).fill(1));
    expect(gaps(asked.slice(config.nLayers))).toEqual(Array(config.nLayers - 1).fill(1));
    engine.close(session);
  });

  it('a session closed while its step waits at a tap is freed when the step ends, not under it', async () => {
    const lora = createLora({ modelConfig: config, r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'], seed: 5 });
    const taps = new AdapterTaps(lora, config, false);
    let asked!: () => void;
    const question = new Promise<void>((resolve) => (asked = resolve));
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    const exchange: TapExchange = {
      async forward(tap) {
        asked();
        await answered;
        return taps.forward(tap, TAP_GROUP[tap.tap].modules.filter((m) => lora.module(tap.layer, m)));
      },
      backward: () => Promise.reject(new Error('inference has no backward')),
    };
    const engine = new Engine(model, gpu, { maxBatchRows: 256 });
    const session = engine.open(claims, { mode: 'inference', maxContext: 32, taps: planFromAdapter(lora, config) });
    const step = engine.infer(session, exchange, Int32Array.of(3, 4), { logprobs: 0, returnLogits: false });
    await question;
    engine.close(session); // the client went away; the step goes on to write K/V and attend
    answer();
    await step;
    // The device is still usable, and nothing of the closed session is left.
    const { tokens } = await decodeAll(engine, 1, submits);
    expect(tokens).toHaveLength(prompts.length);
    await new Promise(setImmediate);
    expect(gpu.activations.work.liveTensors).toBe(0);
  });

  it('recycles buffers only once the work recorded on them is submitted, and hands out zeros cleared', async () => {
    const first = gpu.activations.scope();
    const x = first.upload(Float32Array.of(1, 2, 3));
    const doubled = gpu.activations.scope();
    const y = doubled.add(x, x); // recorded, not yet submitted
    first.release(); // x's buffer must not be handed out again before that submit
    const other = gpu.activations.scope();
    other.upload(Float32Array.of(9, 9, 9)); // the same size: would take x's buffer and overwrite it first
    expect([...(await doubled.read(y))]).toEqual([2, 4, 6]);
    other.release(); // its buffer, holding 9s, back in the pool: zeros of that size must still be zeros
    expect([...(await doubled.read(doubled.zeros(3)))]).toEqual([0, 0, 0]);
    doubled.release();
  });

  it('splits a fused output into its modules\' columns and joins them back as the host does', async () => {
    const scope = gpu.activations.scope();
    const rows = 3;
    const widths = [4, 0, 6, 2];
    const y = randomFloats(rows * 12, 8);
    const parts = scope.splitColumns(scope.upload(y), rows, widths);
    const want = splitColumns(y, rows, widths);
    for (const [i, part] of parts.entries()) expect(await scope.read(part), `part ${i}`).toEqual(want[i]);
    expect(await scope.read(scope.joinColumns(parts, rows))).toEqual(joinColumns(want, rows));
    expect(() => scope.joinColumns([scope.zeros(5)], rows)).toThrow(/not a multiple of 3 rows/);
    expect(() => joinColumns([new Float32Array(5)], rows)).toThrow(/not a multiple of 3 rows/);
    scope.release();
  });

  it('frees every tensor a step or a session made, training included', async () => {
    const engine = new Engine(model, gpu, { maxBatchRows: 256 });
    await decodeAll(engine, 2, submits);
    const trainer = engine.open(claims, { mode: 'training', maxContext: 16, taps: [] });
    const tokens = Int32Array.from([1, 2, 3, 4]);
    await engine.trainForward(trainer, noTaps, tokens, Int32Array.from([2, 3, 4, 5]), new Float32Array(4).fill(1), { returnLogits: false });
    // Kept for backward: K and V per layer, the trace (h, q, h', g, u per layer) and dL/dh at the top — nothing else.
    await new Promise(setImmediate);
    expect(gpu.activations.work.liveTensors).toBe(7 * config.nLayers + 1);
    await engine.trainBackward(trainer, noTaps);
    engine.close(trainer);
    await new Promise(setImmediate); // what was recorded on them is submitted a turn later at most
    expect(gpu.activations.work.liveTensors).toBe(0);
  });
});
