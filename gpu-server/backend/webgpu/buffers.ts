/**
 * A buffer reused across calls and replaced by a larger one when a call needs more (doubling,
 * so a growing batch size reallocates only a few times). Safe because the backend runs one call
 * at a time.
 */
export class GrowableBuffer {
  private buffer: GPUBuffer | undefined;
  private readonly maxBytes: number;

  constructor(
    private readonly device: GPUDevice,
    private readonly label: string,
    private readonly usage: number,
    maxBytes: number,
  ) {
    this.maxBytes = Math.floor(maxBytes / 4) * 4; // buffer sizes stay multiples of 4
  }

  /** A buffer of at least `bytes` bytes (≥ 4: zero-sized bindings are invalid). */
  get(bytes: number): GPUBuffer {
    const need = Math.max(4, Math.ceil(bytes / 4) * 4);
    if (need > this.maxBytes) throw new RangeError(`${this.label}: ${need} bytes exceed the device's limit of ${this.maxBytes}`);
    if (!this.buffer || this.buffer.size < need) {
      this.buffer?.destroy();
      const size = Math.min(this.maxBytes, Math.max(need, 2 * (this.buffer?.size ?? 0), 1024));
      this.buffer = this.device.createBuffer({ label: this.label, size, usage: this.usage });
    }
    return this.buffer;
  }

  destroy(): void {
    this.buffer?.destroy();
    this.buffer = undefined;
  }
}
