/**
 * Device copies of the sessions' K/V caches, kept in step with the host caches by uploading only
 * the rows a call adds. The engine owns the caches (host arrays, one per layer, K and V) and
 * writes a step's rows at positions pos0… just before its attention call; so a mirror that holds
 * positions [0, synced) is current for any call with pos0 ≤ synced, and takes the rows
 * [pos0, pos0 + rows) — one row per layer per decode step, instead of the whole cache.
 * A call that starts below `synced` (a training step restarts at 0) rewrites from there.
 *
 * Mirrors are found by the host array's identity and destroyed when it is collected (a closed
 * session's cache) or with the device.
 */
interface Mirror {
  buffer: GPUBuffer;
  synced: number; // positions [0, synced) match the host array
}

export class KvMirrors {
  private readonly mirrors = new WeakMap<Float32Array, Mirror>();
  private readonly collected = new FinalizationRegistry<GPUBuffer>((buffer) => buffer.destroy());

  constructor(private readonly device: GPUDevice) {}

  /** After the engine wrote rows [pos0, pos0 + rows) of `cache` [capacity, kvDim]: its device copy, current for [0, pos0 + rows). */
  written(cache: Float32Array, kvDim: number, pos0: number, rows: number, label: string): GPUBuffer {
    const mirror = this.mirror(cache, label);
    this.upload(mirror, cache, kvDim, Math.min(pos0, mirror.synced), pos0 + rows);
    mirror.synced = pos0 + rows;
    return mirror.buffer;
  }

  /** The device copy of `cache`, current for [0, keys), for a call that only reads it (a backward). */
  read(cache: Float32Array, kvDim: number, keys: number, label: string): GPUBuffer {
    const mirror = this.mirror(cache, label);
    this.upload(mirror, cache, kvDim, mirror.synced, keys);
    mirror.synced = Math.max(mirror.synced, keys);
    return mirror.buffer;
  }

  private mirror(cache: Float32Array, label: string): Mirror {
    let mirror = this.mirrors.get(cache);
    if (!mirror) {
      const buffer = this.device.createBuffer({ label, size: Math.max(4, cache.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      mirror = { buffer, synced: 0 };
      this.mirrors.set(cache, mirror);
      this.collected.register(cache, buffer);
    }
    return mirror;
  }

  /** Positions [from, to) of the host cache into the mirror. */
  private upload(mirror: Mirror, cache: Float32Array, kvDim: number, from: number, to: number): void {
    if (to <= from) return;
    const rowBytes = kvDim * 4;
    this.device.queue.writeBuffer(mirror.buffer, from * rowBytes, cache.buffer, cache.byteOffset + from * rowBytes, (to - from) * rowBytes);
  }
}
