import { describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../model/random';
import * as adapters from './index';

describe('shared/adapters API', () => {
  it('exports the whole API', () => {
    for (const name of [
      'parsePeftConfig',
      'readPeftAdapter',
      'writePeftAdapter',
      'createLora',
      'createIa3',
      'createPromptTuning',
      'mergeAdapter',
      'baseFromModel',
      'PeftAdapter',
      'LoraModule',
      'DoraModule',
      'Ia3InputModule',
      'Ia3OutputModule',
      'AdapterError',
      'resolveTargets',
      'tensorKey',
      'TAP_NAMES',
      'MODULE_NAMES',
    ]) {
      expect(adapters, name).toHaveProperty(name);
    }
  });

  it('create → write → read → act at a tap → merge, through the index', () => {
    const config = tinyConfig();
    const model = randomModel(config, 1);
    const created = adapters.createLora({ modelConfig: config, ...adapters.baseFromModel(model), r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'], seed: 1, useDora: true });
    const { configJson, safetensors } = adapters.writePeftAdapter(created);
    const adapter = adapters.readPeftAdapter(JSON.parse(configJson), safetensors, adapters.baseFromModel(model));
    expect(adapter.type).toBe('DORA');
    expect(adapter.taps()).toEqual([
      { layer: 0, tap: 'attn.in', modules: ['q_proj', 'v_proj'] },
      { layer: 1, tap: 'attn.in', modules: ['q_proj', 'v_proj'] },
    ]);
    const mod = adapter.module(0, 'q_proj')!;
    expect(mod.form).toBe('output');
    expect(mod.needsBaseOutput).toBe(true);
    expect(adapters.mergeAdapter(model, adapter).weights.layers).toHaveLength(2);
    expect(() => adapters.parsePeftConfig({ peft_type: 'LOHA' })).toThrow(adapters.AdapterError);
  });
});
