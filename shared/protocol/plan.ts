/**
 * A session's tap plan, checked against the model and indexed once by (layer, tap, form), so
 * the server's forward and the client's tap answers look a tap up without scanning the plan.
 */
import type { ModelConfig } from '../model/types';
import { MODULE_TAP, TAP_NAMES, type TapName } from '../adapters/taps';
import type { TapPlanEntry } from './messages';

export class PlanError extends Error {}

const NONE: readonly TapPlanEntry[] = [];

/** Index of (tap, form) within a layer: a lookup per tap per layer per session step, so no string keys. */
const slot = (tap: TapName, form: 'output' | 'input') => 2 * TAP_NAMES.indexOf(tap) + (form === 'input' ? 1 : 0);

export class TapPlan {
  private readonly byTap: (TapPlanEntry[] | undefined)[][]; // [layer][slot]

  constructor(config: ModelConfig, readonly entries: readonly TapPlanEntry[]) {
    this.byTap = Array.from({ length: config.nLayers }, () => []);
    const seen = new Set<string>();
    for (const e of entries) {
      if (e.layer >= config.nLayers) throw new PlanError(`tap plan: layer ${e.layer} does not exist (the model has ${config.nLayers})`);
      if (seen.has(`${e.layer}:${e.module}`)) throw new PlanError(`tap plan: layer ${e.layer} ${e.module} is listed twice`);
      seen.add(`${e.layer}:${e.module}`);
      if (e.form === 'input' && e.module !== 'o_proj' && e.module !== 'down_proj') {
        throw new PlanError(`tap plan: layer ${e.layer} ${e.module}: the input form is only possible where the module is its input's sole consumer (o_proj, down_proj)`);
      }
      const layer = this.byTap[e.layer];
      const k = slot(MODULE_TAP[e.module], e.form);
      (layer[k] ??= []).push(e);
    }
  }

  /** The planned modules of one tap with the given form. */
  at(layer: number, tap: TapName, form: 'output' | 'input'): readonly TapPlanEntry[] {
    return this.byTap[layer]?.[slot(tap, form)] ?? NONE;
  }
}
