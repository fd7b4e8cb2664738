/** The float32 reference implementation of a Llama-family decoder (and float64 for checks). */
export * from './ops';
export { project, projectBackward, type ModuleShape } from './modules';
export {
  createKVCache,
  forward,
  forwardEmbeddings,
  forwardLayers,
  inputEmbeddings,
  layerForward,
  lmHeadLogits,
  isFloat64,
  type ForwardOptions,
  type KVCache,
  type LayerKV,
  type LayerActivations,
} from './forward';
export { lossAndGradients, layerBackward, type LossAndGradients } from './train';
export { Sampler, argmax, samplingDistribution, type SamplingParams } from './sampling';
export { generate, type GenerateOptions, type GenerateResult } from './generate';
