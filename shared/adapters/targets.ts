/**
 * Which modules of a given base model an adapter config adapts, with PEFT's matching rules:
 *  - target_modules as a list: a module path matches an entry when it equals it or ends with
 *    `.entry`; then layers_to_transform keeps only the listed layers;
 *  - target_modules as a string: `all-linear`, or a regex that must match the whole path
 *    (Python's re.fullmatch), e.g. `model\.layers\.\d+\.self_attn\.(q|v)_proj`;
 *  - exclude_modules likewise (list: equal or `.entry` suffix; string: fullmatch);
 *  - rank_pattern / alpha_pattern: the first key K (in file order) such that the path matches
 *    `(.*\.)?(K)$` sets r / alpha (so `q_proj` and `layers.0.self_attn.q_proj` both work);
 *  - IA3 feedforward_modules: string → fullmatch, list → the path ends with the entry.
 * Everything is also checked against the model: targets that match nothing, layer indices
 * out of range, feed-forward modules whose input is shared.
 */
import type { ModelConfig } from '../model/types';
import type { Ia3Config, LoraConfig, PromptTuningConfig } from './config';
import { AdapterError } from './errors';
import { loraScale } from './lora';
import { allModules } from './modules';
import { TAP_MODULES, MODULE_TAP, type ModuleName } from './taps';

export interface AdapterTarget {
  layer: number;
  module: ModuleName;
  /** e.g. model.layers.0.self_attn.q_proj */
  path: string;
  /** 'input' for IA3 feed-forward modules, 'output' otherwise */
  form: 'output' | 'input';
  /** LoRA / DoRA: the module's rank, alpha and scale after rank_pattern / alpha_pattern / rsLoRA */
  r?: number;
  alpha?: number;
  scale?: number;
}

const FILE = 'adapter_config.json';

/** Compiles a Python `re` pattern as a JS RegExp anchored like `^(?:wrap)$`; named groups translated. */
export function pythonRegex(field: string, pattern: string, wrap: (p: string) => string = (p) => p): RegExp {
  const js = pattern.replace(/\(\?P</g, '(?<').replace(/\(\?P=(\w+)\)/g, '\\k<$1>');
  try {
    return new RegExp(`^(?:${wrap(js)})$`);
  } catch (e) {
    throw new AdapterError(`${FILE}: ${field}: ${JSON.stringify(pattern)} is not a usable regex (${(e as Error).message})`);
  }
}

function listMatch(path: string, entry: string): boolean {
  return path === entry || path.endsWith(`.${entry}`);
}

/** Linear layers outside the decoder layers that a regex could select; adapting them is unsupported. */
const NON_LAYER_MODULES = ['lm_head', 'model.embed_tokens'];

function selector(field: string, spec: string[] | string): (path: string) => boolean {
  if (typeof spec === 'string') {
    if (spec === 'all-linear') return () => true; // PEFT: every linear layer but the output layer
    const re = pythonRegex(field, spec);
    for (const p of NON_LAYER_MODULES) {
      if (field === 'target_modules' && re.test(p)) throw new AdapterError(`${FILE}: ${field}: the regex matches ${p}, which is not adapted here (only decoder-layer linear modules)`);
    }
    return (path) => re.test(path);
  }
  return (path) => spec.some((entry) => listMatch(path, entry));
}

function layerList(v: number | number[] | null | undefined): number[] | null {
  if (v === null || v === undefined) return null;
  const list = Array.isArray(v) ? v : [v];
  return list.length === 0 ? null : list; // PEFT: an empty list means every layer
}

function patternLookup<T>(field: string, pattern: Record<string, T> | null | undefined): (path: string) => T | undefined {
  const entries = Object.entries(pattern ?? {}).map(([key, value]) => ({ re: pythonRegex(`${field} key ${JSON.stringify(key)}`, key, (k) => `(?:.*\\.)?(?:${k})`), value }));
  return (path) => entries.find((e) => e.re.test(path))?.value;
}

function checkListEntries(field: string, spec: string[] | string | null | undefined, config: ModelConfig): void {
  if (!Array.isArray(spec)) return;
  const paths = allModules(config).map((m) => m.path);
  for (const entry of spec) {
    if (!paths.some((p) => listMatch(p, entry))) {
      throw new AdapterError(`${FILE}: ${field}: "${entry}" matches no module of this model (${config.nLayers} layers; modules look like ${paths[0]})`);
    }
  }
}

/** The sole consumers of their input: only these can take IA3's input (feed-forward) form. */
const SOLE_CONSUMERS = new Set<ModuleName>(['o_proj', 'down_proj']);

/** The modules a LoRA/DoRA or IA3 config adapts in this model, in layer order. */
export function resolveTargets(cfg: LoraConfig | Ia3Config, config: ModelConfig): AdapterTarget[] {
  const isTarget = selector('target_modules', cfg.target_modules);
  checkListEntries('target_modules', cfg.target_modules === 'all-linear' ? null : cfg.target_modules, config);
  const exclude = cfg.exclude_modules ? selector('exclude_modules', cfg.exclude_modules) : () => false;

  let layers: number[] | null = null;
  let rankOf: (path: string) => number | undefined = () => undefined;
  let alphaOf: (path: string) => number | undefined = () => undefined;
  if (cfg.peft_type === 'LORA') {
    layers = Array.isArray(cfg.target_modules) ? layerList(cfg.layers_to_transform) : null;
    for (const l of layers ?? []) {
      if (l >= config.nLayers) throw new AdapterError(`${FILE}: layers_to_transform: layer ${l} does not exist (the model has ${config.nLayers} layers)`);
    }
    rankOf = patternLookup('rank_pattern', cfg.rank_pattern);
    alphaOf = patternLookup('alpha_pattern', cfg.alpha_pattern);
  }
  const isFeedforward =
    cfg.peft_type === 'IA3' && cfg.feedforward_modules
      ? typeof cfg.feedforward_modules === 'string'
        ? ((re) => (path: string) => re.test(path))(pythonRegex('feedforward_modules', cfg.feedforward_modules))
        : ((list) => (path: string) => list.some((f) => path.endsWith(f)))(cfg.feedforward_modules)
      : () => false;

  const targets: AdapterTarget[] = [];
  for (const { layer, module, path } of allModules(config)) {
    if (exclude(path) || !isTarget(path)) continue;
    if (layers !== null && !layers.includes(layer)) continue;
    if (cfg.peft_type === 'LORA') {
      const r = rankOf(path) ?? cfg.r;
      const alpha = alphaOf(path) ?? cfg.lora_alpha;
      targets.push({ layer, module, path, form: 'output', r, alpha, scale: loraScale(alpha, r, cfg.use_rslora === true) });
    } else {
      const ff = isFeedforward(path);
      if (ff && !SOLE_CONSUMERS.has(module)) {
        const tap = MODULE_TAP[module];
        const others = TAP_MODULES[tap].filter((m) => m !== module).join(', ');
        throw new AdapterError(
          `${FILE}: feedforward_modules: ${module} cannot be a feed-forward (input-scaling) IA3 module here: its input at tap ${tap} is shared with ${others}, ` +
            'and scaling a shared input for one consumer only would need the base weights at the edge (only o_proj and down_proj own their input)',
        );
      }
      targets.push({ layer, module, path, form: ff ? 'input' : 'output' });
    }
  }
  if (targets.length === 0) throw new AdapterError(`${FILE}: target_modules: ${JSON.stringify(cfg.target_modules)} selects no module of this model`);
  return targets;
}

/** Prompt tuning's fit to the model: token_dim = hidden size; PEFT's metadata, when present, must agree. */
export function checkPromptConfig(cfg: PromptTuningConfig, config: ModelConfig): void {
  if (cfg.token_dim !== config.dim) throw new AdapterError(`${FILE}: token_dim ${cfg.token_dim} does not match the model's hidden size ${config.dim}`);
  if (cfg.num_layers !== null && cfg.num_layers !== undefined && cfg.num_layers !== config.nLayers) {
    throw new AdapterError(`${FILE}: num_layers ${cfg.num_layers} does not match the model's ${config.nLayers} layers`);
  }
  if (cfg.num_attention_heads !== null && cfg.num_attention_heads !== undefined && cfg.num_attention_heads !== config.nHeads) {
    throw new AdapterError(`${FILE}: num_attention_heads ${cfg.num_attention_heads} does not match the model's ${config.nHeads} heads`);
  }
}
