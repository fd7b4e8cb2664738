/**
 * The safetensors writer. Output is deterministic: tensors ordered by element size (largest first,
 * so F32 data stays 4-byte aligned), then by name; metadata keys sorted; the header padded with
 * spaces to a multiple of 8 bytes, as the official library does.
 */
import { DTYPE_SIZE, HOST_IS_LITTLE_ENDIAN, isSupportedDType, type DType } from './dtypes';
import { SafetensorsError } from './errors';
import { float32ToBfloat16Bits, float32ToFloat16Bits } from './float16';

export interface TensorToWrite {
  shape: number[];
  data: Float32Array | Float64Array;
  /** Defaults to F32. */
  dtype?: DType;
}

interface Planned {
  name: string;
  tensor: TensorToWrite;
  dtype: DType;
  begin: number;
  end: number;
}

export function serializeSafetensors(
  tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const plan = layout(entries);
  const header = new TextEncoder().encode(headerJson(plan, metadata ?? {}));
  const headerLength = Math.ceil(header.byteLength / 8) * 8;
  const dataStart = 8 + headerLength;
  const dataLength = plan.length ? plan[plan.length - 1].end : 0;

  const out = new Uint8Array(dataStart + dataLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(header, 8);
  out.fill(0x20, 8 + header.byteLength, dataStart);
  for (const p of plan) writeData(out, dataStart + p.begin, p.dtype, p.tensor.data);
  return out;
}

function layout(entries: [string, TensorToWrite][]): Planned[] {
  const plan = entries.map(([name, tensor]): Planned => {
    const dtype = tensor.dtype ?? 'F32';
    if (name === '__metadata__') throw new SafetensorsError('"__metadata__" cannot be a tensor name');
    if (!isSupportedDType(dtype)) throw new SafetensorsError(`tensor "${name}": unsupported dtype "${dtype}"`);
    const { shape, data } = tensor;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(`tensor "${name}": shape must be an array of non-negative integers`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== data.length) {
      throw new SafetensorsError(`tensor "${name}": shape [${shape}] holds ${count} values, data has ${data.length}`);
    }
    return { name, tensor, dtype, begin: 0, end: 0 };
  });
  plan.sort((a, b) => DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype] || compare(a.name, b.name));
  let offset = 0;
  for (const p of plan) {
    p.begin = offset;
    p.end = offset += p.tensor.data.length * DTYPE_SIZE[p.dtype];
  }
  return plan;
}

/** Built by hand, not via an object, so names like "__proto__" or "0" keep their place. */
function headerJson(plan: Planned[], metadata: Record<string, string>): string {
  const parts: string[] = [];
  const keys = Object.keys(metadata).sort(compare);
  for (const key of keys) {
    if (typeof metadata[key] !== 'string') {
      throw new SafetensorsError(`metadata "${key}" must be a string, got ${typeof metadata[key]}`);
    }
  }
  if (keys.length) {
    const pairs = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`);
    parts.push(`"__metadata__":{${pairs.join(',')}}`);
  }
  for (const p of plan) {
    const entry = `{"dtype":"${p.dtype}","shape":[${p.tensor.shape.join(',')}],"data_offsets":[${p.begin},${p.end}]}`;
    parts.push(`${JSON.stringify(p.name)}:${entry}`);
  }
  return `{${parts.join(',')}}`;
}

function writeData(out: Uint8Array, offset: number, dtype: DType, data: Float32Array | Float64Array): void {
  const n = data.length;
  if (dtype === 'F32') {
    if (HOST_IS_LITTLE_ENDIAN && offset % 4 === 0) {
      new Float32Array(out.buffer, offset, n).set(data); // rounds float64 to nearest float32, ties to even
    } else {
      const view = new DataView(out.buffer, offset, 4 * n);
      for (let i = 0; i < n; i++) view.setFloat32(4 * i, data[i], true);
    }
    return;
  }
  const encode = dtype === 'F16' ? float32ToFloat16Bits : float32ToBfloat16Bits;
  for (let i = 0; i < n; i++) {
    const h = encode(data[i]);
    out[offset + 2 * i] = h & 0xff;
    out[offset + 2 * i + 1] = h >>> 8;
  }
}

/** Code-unit order, independent of locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
