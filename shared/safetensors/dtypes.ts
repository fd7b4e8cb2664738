/** The dtypes Symbiosis reads and writes. */
export type DType = 'F32' | 'F16' | 'BF16';

/** Bytes per element of each supported dtype. */
export const DTYPE_SIZE: Record<DType, number> = { F32: 4, F16: 2, BF16: 2 };

export function isSupportedDType(x: unknown): x is DType {
  return x === 'F32' || x === 'F16' || x === 'BF16';
}

/** Every dtype the safetensors format defines, supported here or not (to tell "unsupported" from "invalid"). */
export const SAFETENSORS_DTYPES: ReadonlySet<string> = new Set([
  'BOOL', 'U8', 'I8', 'U16', 'I16', 'U32', 'I32', 'U64', 'I64',
  'F4', 'F6_E2M3', 'F6_E3M2', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0',
  'F16', 'BF16', 'F32', 'F64', 'C64',
]);

/** True on every realistic JS host; the big-endian fallbacks exist only for correctness. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
