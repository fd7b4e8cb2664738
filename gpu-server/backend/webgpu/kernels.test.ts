import { describe, expect, it } from 'vitest';
import { kernelSource, type KernelName } from './kernels';

/** The Params fields of a linear kernel's source, comments dropped. */
function paramsOf(name: KernelName): string[] {
  const body = /struct Params \{([^}]*)\}/.exec(kernelSource(name, 'f32'))![1];
  return body
    .split('\n')
    .map((line) => line.replace(/\/\/.*$/, '').trim())
    .filter(Boolean);
}

describe('linear kernels', () => {
  // WGSL has no include: each kernel declares Params itself, and the backend writes one layout
  // for all three (index.ts recordLinear: rows, in, the chunk's out, the group's out, the
  // chunk's first output, accumulate, two pads).
  it('declare the same Params, in the order the backend writes them', () => {
    const expected = ['rows: u32,', 'in_dim: u32,', 'out_dim: u32,', 'y_stride: u32,', 'y_offset: u32,', 'accumulate: u32,', '_pad0: u32,', '_pad1: u32,'];
    for (const name of ['matmul', 'matvec', 'matmul-backward'] as const) expect(paramsOf(name), name).toEqual(expected);
  });

  it('switch W to f16 by the one alias line', () => {
    for (const name of ['matmul', 'matvec', 'matmul-backward'] as const) {
      const source = kernelSource(name, 'f16');
      expect(source.startsWith('enable f16;'), name).toBe(true);
      expect(source, name).toContain('alias weight_t = f16;');
    }
  });
});
