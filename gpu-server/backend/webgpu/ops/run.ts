/**
 * Running recorded ops from host arrays: upload the inputs, let the caller record any number of
 * dispatches on them into one encoder, submit once, read every output back once. For tests, the
 * benchmark and other one-off calls; a real forward keeps its buffers on the device.
 */

import { submitTogether } from '../submit-together';

export type HostArray = Float32Array | Uint32Array;

/** A storage buffer holding `data` (≥ 4 bytes: zero-sized bindings are invalid). */
export function uploadBuffer(device: GPUDevice, label: string, data: HostArray): GPUBuffer {
  const buffer = device.createBuffer({ label, size: Math.max(4, data.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  buffer.unmap();
  return buffer;
}

/** A uniform buffer holding `data`, written at creation (so no queued write can reorder with a pending encoder). */
export function uploadUniform(device: GPUDevice, label: string, data: Uint32Array | ArrayBuffer): GPUBuffer {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const buffer = device.createBuffer({ label, size: Math.max(16, Math.ceil(bytes.byteLength / 16) * 16), usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(bytes);
  buffer.unmap();
  return buffer;
}

/** An uninitialised (zeroed, as WebGPU guarantees) f32 storage buffer of n elements. */
export function outputBuffer(device: GPUDevice, label: string, n: number): GPUBuffer {
  return device.createBuffer({ label, size: Math.max(4, 4 * n), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
}

/**
 * Uploads `inputs`, makes one f32 buffer of `outputs[name]` elements per output, lets `record`
 * fill one encoder, submits it and returns each output's contents (submitTogether with one
 * call). A validation error anywhere in between is thrown, with its message.
 */
export async function runOnDevice<I extends string, O extends string>(
  device: GPUDevice,
  inputs: Record<I, HostArray>,
  outputs: Record<O, number>,
  record: (encoder: GPUCommandEncoder, buffers: Record<I | O, GPUBuffer>) => void,
): Promise<Record<O, Float32Array>> {
  const outNames = Object.keys(outputs) as O[];
  const [results] = await submitTogether(device, `ops → ${outNames.join(', ')}`, [null], (encoder, _, keep) => {
    const buffers = {} as Record<I | O, GPUBuffer>;
    for (const [name, data] of Object.entries(inputs) as [I, HostArray][]) buffers[name] = keep(uploadBuffer(device, name, data));
    for (const name of outNames) buffers[name] = keep(outputBuffer(device, name, outputs[name]));
    record(encoder, buffers);
    return outNames.map((name): [GPUBuffer, number] => [buffers[name], outputs[name]]);
  });
  return Object.fromEntries(outNames.map((name, i) => [name, results[i]])) as Record<O, Float32Array>;
}
