/**
 * At a tap whose modules need no frozen output (LoRA), the engine asks the tenant and runs the
 * frozen GEMM at once, forward and backward; where a module needs y0 (DoRA) it must wait for the
 * GEMM first (forward) and for the tenant's dL/dy0 first (backward). Events are recorded around
 * the real reference backend and the real adapter side of the taps (AdapterTaps), whose backward
 * answers come back a turn later, as over a socket.
 */
import { describe, expect, it } from 'vitest';
import { baseFromModel, createLora, type PeftAdapter } from '../../shared/adapters';
import { TAP_GROUP } from '../../shared/model/dims';
import { randomModel, tinyConfig } from '../../shared/model/random';
import type { BackwardTap, ForwardTap, TapExchange } from '../../shared/protocol/exchange';
import { AdapterTaps, planFromAdapter } from '../../shared/split/adapter-taps';
import { createBackend } from '../backend';
import { Engine } from './index';

const config = tinyConfig();
const model = randomModel(config, 9);
const claims = { tenant: 't', exp: 0, jti: 'j', limits: { maxSessions: 4, maxContext: 64, maxMemoryBytes: 2 ** 30 } };

/** Runs one training step at layer 0 only and returns the order of GEMM completions and tap questions. */
async function events(adapter: PeftAdapter): Promise<string[]> {
  const backend = await createBackend(model, 'reference');
  const log: string[] = [];
  const { linear, linearBackward } = backend;
  backend.linear = async (layer, group, x, rows) => {
    const y = await linear.call(backend, layer, group, x, rows);
    if (layer === 0) log.push(`gemm ${group}`);
    return y;
  };
  backend.linearBackward = async (layer, group, dy, rows) => {
    const dx = await linearBackward.call(backend, layer, group, dy, rows);
    if (layer === 0) log.push(`gemm' ${group}`);
    return dx;
  };
  const taps = new AdapterTaps(adapter, config, true);
  const exchange: TapExchange = {
    async forward(tap: ForwardTap) {
      if (tap.layer === 0) log.push(`tap ${tap.tap}`);
      const modules = TAP_GROUP[tap.tap].modules.filter((m) => adapter.module(tap.layer, m));
      return taps.forward(tap, modules);
    },
    async backward(tap: BackwardTap) {
      const answer = taps.backward(tap);
      await new Promise(setImmediate); // the answer comes back a turn later, as over a socket
      if (tap.layer === 0) log.push(`answer' ${tap.tap}`);
      return answer;
    },
  };
  const engine = new Engine(model, backend, { maxBatchRows: 64 });
  const session = engine.open(claims, { mode: 'training', maxContext: 16, taps: planFromAdapter(adapter, config) });
  const tokens = Int32Array.from([1, 2, 3, 4]);
  await engine.trainForward(session, exchange, tokens, Int32Array.from([2, 3, 4, 5]), new Float32Array(4).fill(1), { returnLogits: false });
  await engine.trainBackward(session, exchange);
  return log;
}

describe('the frozen GEMM and the tenant at a tap', () => {
  it('LoRA (no y0): the tenant is asked before the GEMM is done, forward and backward', async () => {
    const lora = createLora({ modelConfig: config, r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'], seed: 1 });
    const log = await events(lora);
    expect(log.indexOf('tap attn.in')).toBeLessThan(log.indexOf('gemm qkv'));
    expect(log.indexOf("gemm' qkv")).toBeLessThan(log.indexOf("answer' attn.in"));
  });

  it('DoRA (needs y0): the GEMM first forward, the tenant first backward', async () => {
    const dora = createLora({ modelConfig: config, r: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'], seed: 1, useDora: true, weight: baseFromModel(model).weight });
    const log = await events(dora);
    expect(log.indexOf('gemm qkv')).toBeLessThan(log.indexOf('tap attn.in'));
    expect(log.indexOf("answer' attn.in")).toBeLessThan(log.indexOf("gemm' qkv"));
  });
});
