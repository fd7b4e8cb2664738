/**
 * A training checkpoint: the adapter's parameters (float32), AdamW's moments (float64), the
 * step and the data cursor — everything needed to continue exactly as if never stopped (the
 * data order is a function of the seed and the cursor; sampling plays no part in training).
 *
 *   "SYCK" | u32 header length | header JSON | tensor bytes (little-endian, in header order)
 */
import type { PeftAdapter } from '../adapters/adapter';
import type { DataCursor } from './data';
import type { TrainerState } from './trainer';

const MAGIC = 'SYCK';

interface TensorEntry {
  name: string;
  dtype: 'F32' | 'F64';
  length: number;
}

interface Header {
  version: 1;
  step: number;
  cursor: DataCursor;
  optimizerStep: number;
  /** The adapter's PEFT config, so a checkpoint is also a complete adapter. */
  adapterConfig: unknown;
  tensors: TensorEntry[];
}

export interface Checkpoint {
  adapterConfig: unknown;
  params: Map<string, Float32Array>;
  state: TrainerState;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export function encodeCheckpoint(adapter: PeftAdapter, state: TrainerState): Uint8Array {
  const arrays: (Float32Array | Float64Array)[] = [];
  const tensors: TensorEntry[] = [];
  const add = (name: string, a: Float32Array | Float64Array) => {
    tensors.push({ name, dtype: a instanceof Float64Array ? 'F64' : 'F32', length: a.length });
    arrays.push(a);
  };
  for (const [name, p] of adapter.params) add(`param:${name}`, p);
  for (const [name, m] of Object.entries(state.optimizer.m)) add(`m:${name}`, m);
  for (const [name, v] of Object.entries(state.optimizer.v)) add(`v:${name}`, v);
  const header: Header = { version: 1, step: state.step, cursor: state.cursor, optimizerStep: state.optimizer.step, adapterConfig: adapter.config, tensors };
  const text = JSON.stringify(header);
  // Pad so the tensor data starts 8-byte aligned (Float64Array views need it).
  const pad = (8 - ((MAGIC.length + 4 + new TextEncoder().encode(text).length) % 8)) % 8;
  const json = new TextEncoder().encode(text + ' '.repeat(pad));
  const dataBytes = arrays.reduce((n, a) => n + a.byteLength, 0);
  const out = new Uint8Array(MAGIC.length + 4 + json.length + dataBytes);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(MAGIC.length, json.length, true);
  out.set(json, MAGIC.length + 4);
  let at = MAGIC.length + 4 + json.length;
  for (const a of arrays) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
    at += a.byteLength;
  }
  return out;
}

export function decodeCheckpoint(bytes: Uint8Array): Checkpoint {
  if (bytes.length < 8 || new TextDecoder().decode(bytes.subarray(0, 4)) !== MAGIC) throw new CheckpointError('not a Symbiosis checkpoint');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(4, true);
  if (8 + headerLength > bytes.length) throw new CheckpointError('checkpoint header is truncated');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Header;
  if (header.version !== 1) throw new CheckpointError(`unsupported checkpoint version ${header.version}`);
  const data = bytes.slice(8 + headerLength); // a copy, aligned for typed-array views
  const params = new Map<string, Float32Array>();
  const m: Record<string, Float64Array> = {};
  const v: Record<string, Float64Array> = {};
  let at = 0;
  for (const t of header.tensors) {
    const size = t.dtype === 'F64' ? 8 : 4;
    if (at + t.length * size > data.length) throw new CheckpointError(`checkpoint is truncated at tensor "${t.name}"`);
    const a = t.dtype === 'F64' ? new Float64Array(data.buffer, at, t.length) : new Float32Array(data.buffer, at, t.length);
    at += t.length * size;
    const [kind, ...rest] = t.name.split(':');
    const name = rest.join(':');
    if (kind === 'param') params.set(name, a as Float32Array);
    else if (kind === 'm') m[name] = a as Float64Array;
    else if (kind === 'v') v[name] = a as Float64Array;
  }
  return { adapterConfig: header.adapterConfig, params, state: { step: header.step, cursor: header.cursor, optimizer: { step: header.optimizerStep, m, v } } };
}

/** Puts a checkpoint's parameters into an adapter of the same shape (in place) and refreshes it. */
export function restoreParams(adapter: PeftAdapter, params: Map<string, Float32Array>): void {
  for (const [name, p] of adapter.params) {
    const saved = params.get(name);
    if (!saved || saved.length !== p.length) throw new CheckpointError(`checkpoint does not match the adapter at "${name}"`);
    p.set(saved);
  }
  adapter.refresh();
}
