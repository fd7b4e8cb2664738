/** The LoRA of `bench serve`'s multi-adapter sessions and `bench edge`'s upload, rebuilt alike wherever a seed is known. */
import { createLora, type PeftAdapter } from '../../shared/adapters';
import type { ModelConfig } from '../../shared/model/types';
import { Rng } from '../../shared/util/rng';

/** Rank 8 on q/v, with non-zero B (PEFT starts B at zero, which would make it the identity). */
export function benchLora(config: ModelConfig, seed: number): PeftAdapter {
  const lora = createLora({ modelConfig: config, r: 8, alpha: 16, targetModules: ['q_proj', 'v_proj'], seed });
  const rng = new Rng(1000 + seed);
  for (const [name, p] of lora.params) if (name.includes('lora_B')) for (let i = 0; i < p.length; i++) p[i] = 0.05 * rng.normal();
  lora.refresh();
  return lora;
}
