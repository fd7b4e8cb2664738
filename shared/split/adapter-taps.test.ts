/**
 * AdapterTaps, the adapter's side of the taps, against its modules called directly: forward
 * answers are y − y0 (output form; the change alone where the module needs no y0) or the
 * replacement input (input form), and backward sums the modules' dL/dx over a tap and sends
 * dL/dy0 only where the server sent y0.
 */
import { describe, expect, it } from 'vitest';
import { createIa3, createLora } from '../adapters';
import { moduleDims } from '../model/dims';
import { tinyConfig } from '../model/random';
import { Rng } from '../util/rng';
import { AdapterTaps, planFromAdapter } from './adapter-taps';

const config = tinyConfig();
const rows = 3;
const floats = (n: number, seed: number) => {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
};

describe('AdapterTaps', () => {
  it('LoRA on q/v (one tap): the changes, then dx summed over both modules', () => {
    const lora = createLora({ modelConfig: config, r: 3, alpha: 6, targetModules: ['q_proj', 'v_proj'], seed: 5 });
    for (const p of lora.params.values()) p.set(floats(p.length, p.length)); // B ≠ 0: a real change
    lora.refresh();
    const taps = new AdapterTaps(lora, config, true);
    const x = floats(rows * config.dim, 1);
    const answer = taps.forward({ layer: 1, tap: 'attn.in', form: 'output', rows, x, y0: {} }, ['q_proj', 'v_proj']);
    const grads = { q_proj: floats(rows * moduleDims(config, 'q_proj').outDim, 2), v_proj: floats(rows * moduleDims(config, 'v_proj').outDim, 3) };
    const back = taps.backward({ layer: 1, tap: 'attn.in', form: 'output', rows, grads });
    let dx: Float32Array | undefined;
    for (const name of ['q_proj', 'v_proj'] as const) {
      const m = lora.module(1, name)!;
      const zeros = new Float32Array(grads[name].length);
      expect(Array.from(answer[name]!), name).toEqual(Array.from(m.forwardOutput(x, zeros, rows)));
      const own = m.backwardOutput(x, zeros, grads[name], rows, new Map()).dx as Float32Array;
      dx = dx ? dx.map((v, i) => v + own[i]) : Float32Array.from(own);
    }
    expect(Array.from(back.dx!)).toEqual(Array.from(dx!));
    expect(back.grads).toEqual({}); // no y0 was sent: dL/dy0 = dL/dy, nothing to send

    // Deferred: the same answer, the parameter gradients only once the handed-over work runs.
    const later = new AdapterTaps(lora, config, true);
    later.forward({ layer: 1, tap: 'attn.in', form: 'output', rows, x, y0: {} }, ['q_proj', 'v_proj']);
    const works: (() => void)[] = [];
    const backLater = later.backward({ layer: 1, tap: 'attn.in', form: 'output', rows, grads }, (w) => works.push(w));
    expect(Array.from(backLater.dx!)).toEqual(Array.from(back.dx!));
    expect(works).toHaveLength(2);
    expect(later.grads.size).toBe(0);
    for (const w of works) w();
    expect([...later.grads.keys()].sort()).toEqual([...taps.grads.keys()].sort());
    for (const [key, g] of taps.grads) expect(Array.from(later.grads.get(key)!), key).toEqual(Array.from(g));
    expect([...taps.grads.keys()].sort()).toEqual([...lora.params.keys()].filter((k) => k.includes('layers.1.')).sort());
  });

  it('IA3: k/v scale the frozen output (y − y0 sent, dL/dy0 back); down_proj rescales its input', () => {
    const ia3 = createIa3({ modelConfig: config, targetModules: ['k_proj', 'down_proj'], feedforwardModules: ['down_proj'] });
    for (const p of ia3.params.values()) p.set(floats(p.length, 7).map((v) => 1 + 0.1 * v));
    ia3.refresh();
    expect(planFromAdapter(ia3, config).filter((e) => e.layer === 0)).toEqual([
      { layer: 0, module: 'k_proj', form: 'output', needsBaseOutput: true },
      { layer: 0, module: 'down_proj', form: 'input', needsBaseOutput: false },
    ]);
    const taps = new AdapterTaps(ia3, config, true);
    const x = floats(rows * config.dim, 8);
    const y0 = floats(rows * moduleDims(config, 'k_proj').outDim, 9);
    const k = taps.forward({ layer: 0, tap: 'attn.in', form: 'output', rows, x, y0: { k_proj: y0 } }, ['k_proj']).k_proj!;
    const want = ia3.module(0, 'k_proj')!.forwardOutput(x, y0, rows) as Float32Array;
    expect(Array.from(k)).toEqual(Array.from(want.map((v, i) => v - y0[i])));
    const m = floats(rows * config.hiddenDim, 10);
    const replaced = taps.forward({ layer: 0, tap: 'mlp.out', form: 'input', rows, x: m, y0: {} }, ['down_proj']).down_proj!;
    expect(Array.from(replaced)).toEqual(Array.from(ia3.module(0, 'down_proj')!.forwardInput(m, rows)));
    const dy = floats(y0.length, 11);
    const back = taps.backward({ layer: 0, tap: 'attn.in', form: 'output', rows, grads: { k_proj: dy } });
    expect(Array.from(back.grads.k_proj!)).toEqual(Array.from(ia3.module(0, 'k_proj')!.backwardOutput(x, y0, dy, rows, new Map()).dy0));
    expect(back.dx).toBeUndefined();
  });

  it('refuses a tap the adapter does not touch, and a backward without its forward', () => {
    const lora = createLora({ modelConfig: config, r: 2, alpha: 2, targetModules: ['q_proj'], seed: 1 });
    const taps = new AdapterTaps(lora, config, true);
    expect(() => taps.forward({ layer: 0, tap: 'attn.out', form: 'output', rows, x: floats(rows * config.dim, 1), y0: {} }, ['o_proj'])).toThrow(/layer 0 o_proj, which the adapter does not touch/);
    expect(() => taps.backward({ layer: 0, tap: 'attn.in', form: 'output', rows, grads: { q_proj: floats(rows * config.dim, 2) } })).toThrow(/without its forward/);
  });
});
