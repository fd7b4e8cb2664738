/** Each module's input and output widths, and how a tap's modules fuse into one weight group. */
import type { ModelConfig } from './types';
import type { ModuleName, TapName } from '../adapters/taps';

export function moduleDims(c: ModelConfig, m: ModuleName): { inDim: number; outDim: number } {
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  switch (m) {
    case 'q_proj': return { inDim: c.dim, outDim: qDim };
    case 'k_proj':
    case 'v_proj': return { inDim: c.dim, outDim: kvDim };
    case 'o_proj': return { inDim: qDim, outDim: c.dim };
    case 'gate_proj':
    case 'up_proj': return { inDim: c.dim, outDim: c.hiddenDim };
    case 'down_proj': return { inDim: c.hiddenDim, outDim: c.dim };
  }
}

/** The weight group each tap's modules are fused into, in column order. */
export const TAP_GROUP: Record<TapName, { group: 'qkv' | 'o' | 'gateup' | 'down'; modules: readonly ModuleName[] }> = {
  'attn.in': { group: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'] },
  'attn.out': { group: 'o', modules: ['o_proj'] },
  'mlp.in': { group: 'gateup', modules: ['gate_proj', 'up_proj'] },
  'mlp.out': { group: 'down', modules: ['down_proj'] },
};
