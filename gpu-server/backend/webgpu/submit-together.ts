/**
 * Several calls of one kind (e.g. every session's attention of a decode step) as one submit and
 * one readback: `record` uploads a call's inputs (through `keep`, so they are destroyed
 * afterwards) and records its dispatches into the shared encoder, returning its outputs with
 * their element counts; every output is copied into one staging buffer, mapped once, and handed
 * back per call as views of it.
 */
export type RecordCall<C> = (encoder: GPUCommandEncoder, call: C, keep: (b: GPUBuffer) => GPUBuffer) => [GPUBuffer, number][];

export async function submitTogether<C>(device: GPUDevice, label: string, calls: readonly C[], record: RecordCall<C>): Promise<Float32Array[][]> {
  const temporary: GPUBuffer[] = [];
  const keep = (b: GPUBuffer) => (temporary.push(b), b);
  device.pushErrorScope('validation');
  const encoder = device.createCommandEncoder({ label: `${label} × ${calls.length}` });
  let total = 0;
  let placed: { buffer: GPUBuffer; n: number; at: number }[][];
  try {
    placed = calls.map((c) => record(encoder, c, keep).map(([buffer, n]) => ({ buffer, n, at: (total += n) - n })));
  } catch (e) {
    await device.popErrorScope();
    for (const b of temporary) b.destroy();
    throw e;
  }
  const staging = keep(device.createBuffer({ label: `${label} readback`, size: Math.max(4, total * 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
  for (const outs of placed) for (const { buffer, n, at } of outs) encoder.copyBufferToBuffer(buffer, 0, staging, at * 4, n * 4);
  device.queue.submit([encoder.finish()]);
  const error = device.popErrorScope();
  try {
    await staging.mapAsync(GPUMapMode.READ);
    const all = new Float32Array(staging.getMappedRange().slice(0, total * 4));
    const e = await error;
    if (e) throw new Error(`webgpu backend: ${label} failed validation: ${e.message}`);
    return placed.map((outs) => outs.map(({ n, at }) => all.subarray(at, at + n)));
  } finally {
    for (const b of temporary) b.destroy();
  }
}
