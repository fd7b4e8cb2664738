/**
 * A session's tap plan, checked against the model and indexed once by (layer, tap, form), so
 * the server's forward and the client's tap answers look a tap up without scanning the plan.
 */
import type { ModelConfig } from '../model/types';
import { MODULE_TAP, type TapName } from '../adapters/taps';
import type { TapPlanEntry } from './messages';

export class PlanError extends Error {}

const NONE: readonly TapPlanEntry[] = [];

export class TapPlan {
  private readonly byTap = new Map<string, TapPlanEntry[]>();

  constructor(config: ModelConfig, readonly entries: readonly TapPlanEntry[]) {
    const seen = new Set<string>();
    for (const e of entries) {
      if (e.layer >= config.nLayers) throw new PlanError(`tap plan: layer ${e.layer} does not exist (the model has ${config.nLayers})`);
      if (seen.has(`${e.layer}:${e.module}`)) throw new PlanError(`tap plan: layer ${e.layer} ${e.module} is listed twice`);
      seen.add(`${e.layer}:${e.module}`);
      if (e.form === 'input' && e.module !== 'o_proj' && e.module !== 'down_proj') {
        throw new PlanError(`tap plan: layer ${e.layer} ${e.module}: the input form is only possible where the module is its input's sole consumer (o_proj, down_proj)`);
      }
      const key = `${e.layer}:${MODULE_TAP[e.module]}:${e.form}`;
      const list = this.byTap.get(key);
      if (list) list.push(e);
      else this.byTap.set(key, [e]);
    }
  }

  /** The planned modules of one tap with the given form. */
  at(layer: number, tap: TapName, form: 'output' | 'input'): readonly TapPlanEntry[] {
    return this.byTap.get(`${layer}:${tap}:${form}`) ?? NONE;
  }
}
