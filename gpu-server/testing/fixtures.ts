/** Test fixtures shared by the server's tests: adapters of every type with non-trivial weights, and tokens. */
import { baseFromModel, createIa3, createLora, createPromptTuning, type PeftAdapter } from '../../shared/adapters';
import type { Model } from '../../shared/model/types';
import { newTokenId, signSessionToken, type TokenClaims } from '../../shared/protocol/token';
import { Rng } from '../../shared/util/rng';

export const TEST_SECRET = 'test-secret-0123456789abcdef';

/** Gives every parameter deterministic non-trivial values (PEFT's init leaves LoRA's B at zero and IA3 at one). */
function perturb(adapter: PeftAdapter, seed: number, around: number, scale: number): PeftAdapter {
  const rng = new Rng(seed);
  for (const p of adapter.params.values()) for (let i = 0; i < p.length; i++) p[i] = around + scale * rng.normal();
  adapter.refresh();
  return adapter;
}

export function testAdapters(model: Model): Record<string, PeftAdapter> {
  const modelConfig = model.config;
  return {
    lora: perturb(createLora({ modelConfig, r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'], seed: 1 }), 11, 0, 0.2),
    rslora: perturb(createLora({ modelConfig, r: 2, alpha: 4, useRslora: true, rankPattern: { o_proj: 3 }, targetModules: ['o_proj', 'gate_proj', 'up_proj'], seed: 2 }), 12, 0, 0.2),
    dora: perturb(createLora({ modelConfig, r: 2, alpha: 4, useDora: true, targetModules: ['q_proj', 'k_proj', 'down_proj'], seed: 3, ...baseFromModel(model) }), 13, 0.5, 0.2),
    ia3: perturb(createIa3({ modelConfig, targetModules: ['k_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'] }), 14, 1, 0.3),
    prompt: perturb(createPromptTuning({ modelConfig, numVirtualTokens: 3, seed: 4 }), 15, 0, 0.5),
  };
}

/** n different adapters of mixed types and ranks (LoRA, rsLoRA, DoRA, IA3, prompt tuning), each with its own weights. */
export function distinctAdapters(model: Model, n: number): PeftAdapter[] {
  const modelConfig = model.config;
  const targets = [['q_proj', 'v_proj'], ['k_proj', 'o_proj', 'down_proj'], ['gate_proj', 'up_proj'], ['q_proj', 'down_proj']];
  return Array.from({ length: n }, (_, i) => {
    const seed = 100 + i;
    const r = 1 + (i % 8);
    const targetModules = targets[i % targets.length];
    switch (i % 5) {
      case 0: return perturb(createLora({ modelConfig, r, alpha: 2 * r, targetModules, seed }), seed, 0, 0.2);
      case 1: return perturb(createLora({ modelConfig, r, alpha: r, useRslora: true, targetModules, seed }), seed, 0, 0.2);
      case 2: return perturb(createLora({ modelConfig, r, alpha: r, useDora: true, targetModules, seed, ...baseFromModel(model) }), seed, 0.5, 0.2);
      case 3: return perturb(createIa3({ modelConfig, targetModules: ['k_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'] }), seed, 1, 0.3);
      default: return perturb(createPromptTuning({ modelConfig, numVirtualTokens: 1 + (i % 4), seed }), seed, 0, 0.5);
    }
  });
}

export function testToken(tenant = 'tenant-a', limits: Partial<TokenClaims['limits']> = {}, secret = TEST_SECRET, expiresIn = 600): Promise<string> {
  return signSessionToken(
    { tenant, exp: Math.floor(Date.now() / 1000) + expiresIn, jti: newTokenId(), limits: { maxSessions: 64, maxContext: 64, maxMemoryBytes: 1 << 30, ...limits } },
    secret,
  );
}
