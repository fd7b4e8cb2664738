/**
 * The safetensors reader: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`, then the data
 * buffer, which the tensors must cover exactly. Tensor bytes are views into the file, never copies.
 */
import { DTYPE_SIZE, SAFETENSORS_DTYPES, isSupportedDType, type DType } from './dtypes';
import { SafetensorsError } from './errors';
import { findDuplicateKey } from './json-keys';

export interface TensorInfo {
  dtype: DType;
  shape: number[];
  /** Raw little-endian bytes: a view into the file, no copy. */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  /** In data-buffer order. */
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

/** The largest header accepted, as in the official library. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const METADATA_KEY = '__metadata__';
const ENTRY_KEYS = new Set(['dtype', 'shape', 'data_offsets']);

interface Entry {
  name: string;
  info: Omit<TensorInfo, 'bytes'>;
  begin: number;
  end: number;
}

export function parseSafetensors(file: Uint8Array): SafetensorsFile {
  const { header, dataStart } = readHeader(file);
  const dataLength = file.byteLength - dataStart;
  const metadata = readMetadata(header[METADATA_KEY]);
  const entries = Object.keys(header)
    .filter((name) => name !== METADATA_KEY)
    .map((name) => readEntry(name, header[name], dataLength));
  checkCoverage(entries, dataLength);
  const tensors = new Map<string, TensorInfo>();
  for (const { name, info, begin, end } of entries) {
    tensors.set(name, { ...info, bytes: file.subarray(dataStart + begin, dataStart + end) });
  }
  return { tensors, metadata };
}

function readHeader(file: Uint8Array): { header: Record<string, unknown>; dataStart: number } {
  if (file.byteLength < 8) {
    throw new SafetensorsError(`file too short: ${file.byteLength} bytes, less than the 8-byte header length`);
  }
  const n = new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(`header too large: ${n} bytes, more than the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const headerLength = Number(n);
  if (8 + headerLength > file.byteLength) {
    throw new SafetensorsError(
      `header length ${headerLength} runs past the end of the file (${file.byteLength - 8} bytes after the length)`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(file.subarray(8, 8 + headerLength));
  } catch {
    throw new SafetensorsError('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(header)) {
    throw new SafetensorsError(`header is not a JSON object (got ${describe(header)})`);
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate) {
    const { key, parent } = duplicate;
    if (parent === undefined) {
      throw new SafetensorsError(
        key === METADATA_KEY ? `duplicate "${METADATA_KEY}" in header` : `duplicate tensor name "${key}" in header`,
      );
    }
    const where = parent === METADATA_KEY ? METADATA_KEY : `tensor "${parent}"`;
    throw new SafetensorsError(`${where}: duplicate key "${key}"`);
  }
  return { header, dataStart: 8 + headerLength };
}

function readMetadata(value: unknown): Record<string, string> {
  // The official reader treats null like an absent map.
  if (value === undefined || value === null) return {};
  if (!isObject(value)) {
    throw new SafetensorsError(`"${METADATA_KEY}" must be a map of string to string, got ${describe(value)}`);
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new SafetensorsError(`"${METADATA_KEY}" must map strings to strings, but "${key}" is ${describe(v)}`);
    }
  }
  return value as Record<string, string>;
}

function readEntry(name: string, value: unknown, dataLength: number): Entry {
  const fail = (problem: string): never => {
    throw new SafetensorsError(`tensor "${name}": ${problem}`);
  };
  if (!isObject(value)) return fail(`entry must be an object, got ${describe(value)}`);
  for (const key of Object.keys(value)) {
    if (!ENTRY_KEYS.has(key)) fail(`unknown key "${key}" (expected dtype, shape, data_offsets)`);
  }
  for (const key of ENTRY_KEYS) {
    if (!(key in value)) fail(`missing "${key}"`);
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (!isSupportedDType(dtype)) {
    if (typeof dtype === 'string' && SAFETENSORS_DTYPES.has(dtype)) {
      fail(`unsupported dtype "${dtype}" (supported: F32, F16, BF16)`);
    }
    fail(`${JSON.stringify(dtype)} is not a safetensors dtype`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    fail(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    fail(`data_offsets must be two non-negative integers [begin, end], got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail(`data_offsets [${begin}, ${end}] begin after end`);
  if (end > dataLength) {
    fail(`data_offsets [${begin}, ${end}] out of range of the ${dataLength}-byte data buffer`);
  }
  const size = DTYPE_SIZE[dtype as DType];
  const expected = (shape as number[]).reduce((a, b) => a * b, 1) * size;
  if (expected !== end - begin) {
    fail(
      `shape ${JSON.stringify(shape)} of ${dtype} (${size} bytes each) needs ${expected} bytes, ` +
        `but data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  return { name, info: { dtype: dtype as DType, shape: shape as number[] }, begin, end };
}

/** The tensors must tile the data buffer exactly: no overlaps, no gaps, no trailing bytes. */
function checkCoverage(entries: Entry[], dataLength: number): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | undefined;
  for (const entry of entries) {
    if (entry.begin < covered) {
      throw new SafetensorsError(
        `tensors "${previous?.name}" and "${entry.name}" overlap ` +
          `([${previous?.begin}, ${previous?.end}] and [${entry.begin}, ${entry.end}])`,
      );
    }
    if (entry.begin > covered) {
      const after = previous ? `after tensor "${previous.name}"` : 'at the start of the data buffer';
      throw new SafetensorsError(
        `gap of ${entry.begin - covered} bytes in the data buffer ${after}, before tensor "${entry.name}"`,
      );
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered < dataLength) {
    const after = previous ? `after the last tensor "${previous.name}"` : 'with no tensors';
    throw new SafetensorsError(`${dataLength - covered} trailing bytes in the data buffer ${after}`);
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isNonNegativeInteger(x: unknown): x is number {
  return Number.isSafeInteger(x) && (x as number) >= 0;
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'object' ? 'an object' : `a ${typeof x}`;
}
