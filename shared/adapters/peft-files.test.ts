import { describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../model/random';
import { serializeSafetensors } from '../safetensors';
import { baseFromModel, type PeftAdapter } from './adapter';
import { createIa3, createLora, createPromptTuning } from './create';
import { tensorKey } from './modules';
import { readPeftAdapter, writePeftAdapter } from './peft-files';
import { PEFT_IA3, PEFT_LORA } from './test-fixtures';

const config = tinyConfig(); // dim 16, hidden 40, 2 layers, 4 heads / 2 kv heads of 4: q 16 wide, k/v 8 wide
const model = randomModel(config, 1);
const base = baseFromModel(model);

/** Fills every parameter with seeded noise (so B ≠ 0 and a round trip is meaningful). */
function randomize(adapter: PeftAdapter, seed: number): PeftAdapter {
  let s = seed;
  for (const p of adapter.params.values()) for (let i = 0; i < p.length; i++) p[i] = Math.fround(Math.sin(++s * 12.9898) * 0.5);
  adapter.refresh();
  return adapter;
}

function expectSameAdapter(a: PeftAdapter, b: PeftAdapter) {
  expect(b.type).toBe(a.type);
  expect(b.config).toEqual(a.config);
  expect([...b.shapes]).toEqual([...a.shapes]);
  for (const [name, p] of a.params) expect(Array.from(b.params.get(name)!), name).toEqual(Array.from(p));
}

/** A safetensors file from a name → {shape, data} record, optionally with one tensor of another dtype, built by hand. */
function rawSafetensors(entries: Record<string, { dtype: string; shape: number[]; bytes: Uint8Array }>): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, e] of Object.entries(entries)) {
    header[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.bytes.length] };
    offset += e.bytes.length;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  let o = 8 + h.length;
  for (const e of Object.values(entries)) {
    out.set(e.bytes, o);
    o += e.bytes.length;
  }
  return out;
}

const loraConfig = { ...PEFT_LORA, r: 2, target_modules: ['q_proj', 'k_proj'], layers_to_transform: [1] };
/** The tensors of loraConfig for tinyConfig: layer 1 q_proj and k_proj (GQA: k_proj is 8 wide). */
function loraTensors() {
  return new Map([
    [tensorKey.loraA(1, 'q_proj'), { shape: [2, 16], data: new Float32Array(32).fill(0.1) }],
    [tensorKey.loraB(1, 'q_proj'), { shape: [16, 2], data: new Float32Array(32).fill(0.2) }],
    [tensorKey.loraA(1, 'k_proj'), { shape: [2, 16], data: new Float32Array(32).fill(0.3) }],
    [tensorKey.loraB(1, 'k_proj'), { shape: [8, 2], data: new Float32Array(16).fill(0.4) }],
  ]);
}

const readError = (cfg: unknown, bytes: Uint8Array, b = base) => {
  try {
    readPeftAdapter(cfg, bytes, b);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('accepted');
};

describe('readPeftAdapter', () => {
  it('reads PEFT tensor names with GQA-aware shapes', () => {
    const a = readPeftAdapter(loraConfig, serializeSafetensors(loraTensors(), { format: 'pt' }), base);
    expect(a.type).toBe('LORA');
    expect(a.targets.map((t) => `${t.layer}.${t.module}`)).toEqual(['1.q_proj', '1.k_proj']);
    expect(a.module(1, 'k_proj')).toBeDefined();
    expect(a.module(0, 'k_proj')).toBeUndefined();
    expect(a.module(1, 'v_proj')).toBeUndefined();
    expect(a.shapes.get(tensorKey.loraB(1, 'k_proj'))).toEqual([8, 2]);
    expect(a.params.get(tensorKey.loraB(1, 'k_proj'))![0]).toBeCloseTo(0.4, 6);
    expect(a.taps()).toEqual([{ layer: 1, tap: 'attn.in', modules: ['q_proj', 'k_proj'] }]);
  });

  it('reads F16 and BF16 tensors', () => {
    for (const dtype of ['F16', 'BF16'] as const) {
      const tensors = new Map([...loraTensors()].map(([k, v]) => [k, { ...v, dtype }]));
      const a = readPeftAdapter(loraConfig, serializeSafetensors(tensors), base);
      expect(a.params.get(tensorKey.loraA(1, 'q_proj'))![0]).toBeCloseTo(0.1, 2);
    }
  });

  it('names a missing tensor and its expected shape', () => {
    const t = loraTensors();
    t.delete(tensorKey.loraB(1, 'k_proj'));
    expect(readError(loraConfig, serializeSafetensors(t))).toMatch(
      /missing tensor "base_model\.model\.model\.layers\.1\.self_attn\.k_proj\.lora_B\.weight" \(expected shape \[8, 2\]\)/,
    );
  });

  it('names an unexpected tensor (another layer, another module, a base weight)', () => {
    for (const extra of [tensorKey.loraA(0, 'q_proj'), tensorKey.loraA(1, 'v_proj'), 'base_model.model.lm_head.weight']) {
      const t = loraTensors();
      t.set(extra, { shape: [2, 16], data: new Float32Array(32) });
      expect(readError(loraConfig, serializeSafetensors(t))).toContain(`unexpected tensor "${extra}"`);
    }
  });

  it('names a tensor of the wrong shape with expected and actual shapes', () => {
    const t = loraTensors();
    t.set(tensorKey.loraB(1, 'k_proj'), { shape: [16, 2], data: new Float32Array(32) }); // q width instead of kv width
    expect(readError(loraConfig, serializeSafetensors(t))).toMatch(/tensor "base_model\.model\.model\.layers\.1\.self_attn\.k_proj\.lora_B\.weight": expected shape \[8, 2\], got \[16, 2\]/);
    const t2 = loraTensors();
    t2.set(tensorKey.loraA(1, 'q_proj'), { shape: [32], data: new Float32Array(32) });
    expect(readError(loraConfig, serializeSafetensors(t2))).toMatch(/lora_A\.weight": expected shape \[2, 16\], got \[32\]/);
  });

  it('names a tensor of an unsupported dtype', () => {
    const entries: Record<string, { dtype: string; shape: number[]; bytes: Uint8Array }> = {};
    for (const [k, v] of loraTensors()) entries[k] = { dtype: 'F32', shape: v.shape, bytes: new Uint8Array(v.data.buffer) };
    const k = tensorKey.loraA(1, 'q_proj');
    entries[k] = { dtype: 'F64', shape: [2, 16], bytes: new Uint8Array(new Float64Array(32).buffer) };
    const msg = readError(loraConfig, rawSafetensors(entries));
    expect(msg).toMatch(/adapter_model\.safetensors: /);
    expect(msg).toContain(k);
    expect(msg).toMatch(/F64/);
  });

  it('rejects non-finite values and files that are not safetensors', () => {
    const t = loraTensors();
    t.get(tensorKey.loraA(1, 'q_proj'))!.data[3] = NaN;
    expect(readError(loraConfig, serializeSafetensors(t))).toMatch(/lora_A\.weight" contains non-finite values/);
    expect(readError(loraConfig, new Uint8Array([1, 2, 3]))).toMatch(/^adapter_model\.safetensors: /);
  });

  it('rejects a config problem before looking at tensors', () => {
    expect(readError({ ...loraConfig, bias: 'all' }, serializeSafetensors(loraTensors()))).toMatch(/adapter_config\.json: bias/);
  });

  it('needs the expected per-module rank under rank_pattern', () => {
    const cfg = { ...loraConfig, rank_pattern: { k_proj: 1 } };
    expect(readError(cfg, serializeSafetensors(loraTensors()))).toMatch(/k_proj\.lora_A\.weight": expected shape \[1, 16\], got \[2, 16\]/);
  });

  it('reads IA3 with [out, 1] and [1, in] shapes', () => {
    const t = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const layer of [0, 1]) {
      t.set(tensorKey.ia3(layer, 'k_proj'), { shape: [8, 1], data: new Float32Array(8).fill(1) });
      t.set(tensorKey.ia3(layer, 'v_proj'), { shape: [8, 1], data: new Float32Array(8).fill(1) });
      t.set(tensorKey.ia3(layer, 'down_proj'), { shape: [1, 40], data: new Float32Array(40).fill(1) });
    }
    const a = readPeftAdapter(PEFT_IA3, serializeSafetensors(t), { config });
    expect(a.module(0, 'down_proj')!.form).toBe('input');
    expect(a.module(0, 'k_proj')!.form).toBe('output');
    t.set(tensorKey.ia3(1, 'down_proj'), { shape: [40, 1], data: new Float32Array(40) });
    expect(readError(PEFT_IA3, serializeSafetensors(t), { config })).toMatch(/down_proj\.ia3_l": expected shape \[1, 40\], got \[40, 1\]/);
  });

  it('reads the DoRA magnitude as PEFT saves it (and the older ".weight" name), given the base weights', () => {
    const dora = randomize(createLora({ modelConfig: config, ...base, r: 2, alpha: 4, targetModules: ['v_proj'], seed: 3, useDora: true }), 5);
    const { configJson, safetensors } = writePeftAdapter(dora);
    expect([...dora.shapes.keys()]).toContain('base_model.model.model.layers.0.self_attn.v_proj.lora_magnitude_vector');
    expect(readPeftAdapter(configJson, safetensors, base).type).toBe('DORA');
    const t = new Map([...dora.shapes].map(([k, shape]) => [k.endsWith('lora_magnitude_vector') ? `${k}.weight` : k, { shape, data: dora.params.get(k)! }]));
    expectSameAdapter(dora, readPeftAdapter(configJson, serializeSafetensors(t), base));
    expect(readError(configJson, safetensors, { config })).toMatch(/DoRA needs the base weights/);
  });

  it('reads prompt tuning and checks token_dim', () => {
    const p = createPromptTuning({ modelConfig: config, numVirtualTokens: 3, seed: 1 });
    const { configJson, safetensors } = writePeftAdapter(p);
    const back = readPeftAdapter(configJson, safetensors, { config });
    expect(back.promptEmbeddings).toHaveLength(48);
    expect(readError(configJson, safetensors, { config: tinyConfig({ dim: 32 }) })).toMatch(/token_dim 16 does not match/);
  });
});

describe('writePeftAdapter → readPeftAdapter round trip is exact', () => {
  const cases: [string, () => PeftAdapter][] = [
    ['LoRA', () => createLora({ modelConfig: config, r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'], seed: 1 })],
    [
      'rsLoRA + rank/alpha patterns + layers_to_transform',
      () =>
        createLora({
          modelConfig: config,
          r: 4,
          alpha: 8,
          targetModules: ['q_proj', 'k_proj', 'o_proj'],
          seed: 2,
          useRslora: true,
          rankPattern: { 'layers.1.self_attn.k_proj': 2, o_proj: 3 },
          alphaPattern: { q_proj: 5 },
          layersToTransform: [1],
        }),
    ],
    ['LoRA, regex targets', () => createLora({ modelConfig: config, r: 2, alpha: 2, targetModules: 'model\\.layers\\.\\d+\\.mlp\\.(gate|up)_proj', seed: 2 })],
    ['DoRA', () => createLora({ modelConfig: config, ...base, r: 2, alpha: 4, targetModules: ['q_proj', 'gate_proj'], seed: 3, useDora: true })],
    ['IA3', () => createIa3({ modelConfig: config, targetModules: ['k_proj', 'v_proj', 'o_proj', 'down_proj'], feedforwardModules: ['o_proj', 'down_proj'] })],
    ['prompt tuning', () => createPromptTuning({ modelConfig: config, numVirtualTokens: 5, seed: 4 })],
  ];
  for (const [name, make] of cases) {
    it(name, () => {
      const a = randomize(make(), 7);
      const { configJson, safetensors } = writePeftAdapter(a);
      expect(JSON.parse(configJson)).toEqual(JSON.parse(JSON.stringify(a.config)));
      const b = readPeftAdapter(configJson, safetensors, base);
      expectSameAdapter(a, b);
      const again = writePeftAdapter(b);
      expect(again.configJson).toBe(configJson);
      expect(again.safetensors).toEqual(safetensors);
    });
  }
});
