/**
 * Safetensors reading and writing for F32, F16 and BF16 tensors, with web-standard APIs only.
 * See https://github.com/huggingface/safetensors for the format.
 */
export type { DType } from './dtypes';
export { SafetensorsError } from './errors';
export { parseSafetensors, MAX_HEADER_BYTES, type SafetensorsFile, type TensorInfo } from './parse';
export { tensorToFloat32 } from './convert';
export { serializeSafetensors, type TensorToWrite } from './serialize';
export {
  float32ToFloat16Bits,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  bfloat16BitsToFloat32,
} from './float16';
