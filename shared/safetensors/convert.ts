/** Tensor bytes → Float32Array, the fast paths first. */
import { HOST_IS_LITTLE_ENDIAN } from './dtypes';
import { SafetensorsError } from './errors';
import { float16Table } from './float16';
import type { TensorInfo } from './parse';

/**
 * The tensor's values as float32. F32 data that is 4-byte aligned comes back as a view sharing the
 * file's memory (no copy; writing to it writes to the file); misaligned F32 is copied once.
 * F16 and BF16 are converted into a new array.
 */
export function tensorToFloat32(t: TensorInfo): Float32Array {
  const { bytes } = t;
  switch (t.dtype) {
    case 'F32':
      return f32(bytes);
    case 'F16':
      return f16(bytes);
    case 'BF16':
      return bf16(bytes);
    default:
      throw new SafetensorsError(`unsupported dtype "${(t as { dtype: unknown }).dtype}"`);
  }
}

function f32(bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength >>> 2;
  if (HOST_IS_LITTLE_ENDIAN) {
    if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    return new Float32Array(bytes.slice().buffer, 0, n);
  }
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

/** The tensor's 16-bit words as a Uint16Array view when possible, else undefined. */
function words(bytes: Uint8Array): Uint16Array | undefined {
  if (!HOST_IS_LITTLE_ENDIAN || bytes.byteOffset % 2 !== 0) return undefined;
  return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 1);
}

function f16(bytes: Uint8Array): Float32Array {
  const table = float16Table();
  const n = bytes.byteLength >>> 1;
  const out = new Float32Array(n);
  const w = words(bytes);
  if (w) {
    for (let i = 0; i < n; i++) out[i] = table[w[i]];
  } else {
    for (let i = 0; i < n; i++) out[i] = table[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
  }
  return out;
}

function bf16(bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength >>> 1;
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer); // same host byte order as out: endianness-safe
  const w = words(bytes);
  if (w) {
    for (let i = 0; i < n; i++) bits[i] = w[i] << 16;
  } else {
    for (let i = 0; i < n; i++) bits[i] = (bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16;
  }
  return out;
}
