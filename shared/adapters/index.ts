/**
 * PEFT adapters at the taps: config (adapter_config.json), the math of LoRA, DoRA, IA3 and
 * prompt tuning (forward and backward per ModuleAdapter), PEFT file reading/writing, new
 * adapters for training, and merging into the base weights.
 */
export * from './taps';
export { AdapterError } from './errors';
export {
  parsePeftConfig,
  LoraConfigSchema,
  Ia3ConfigSchema,
  PromptTuningConfigSchema,
  SUPPORTED_PEFT_TYPES,
  type PeftConfig,
  type LoraConfig,
  type Ia3Config,
  type PromptTuningConfig,
} from './config';
export { resolveTargets, checkPromptConfig, type AdapterTarget } from './targets';
export { modulePath, moduleDims, allModules, isModuleName, tensorKey, PEFT_PREFIX, PROMPT_EMBEDDINGS_KEY } from './modules';
export { LoraModule, loraScale, type LoraParams } from './lora';
export { DoraModule, doraNorms, type DoraParams } from './dora';
export { Ia3InputModule, Ia3OutputModule } from './ia3';
export { PeftAdapter, baseFromModel, adapterType, expectedTensors, type AdapterType, type BaseModel } from './adapter';
export { readPeftAdapter, writePeftAdapter } from './peft-files';
export {
  createLora,
  createIa3,
  createPromptTuning,
  type CreateLoraOptions,
  type CreateIa3Options,
  type CreatePromptTuningOptions,
} from './create';
export { mergeAdapter } from './merge';
