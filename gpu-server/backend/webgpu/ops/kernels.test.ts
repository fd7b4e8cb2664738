/** The op kernels' sources against OP_KERNELS, and the params and grid helpers (no device needed). */
import { describe, expect, it } from 'vitest';
import { gridFor, MAX_HEAD_DIM, OP_KERNELS, OP_WG, opSource, packParams, type OpKernel } from './kernels';

describe('op kernels', () => {
  it.each(Object.keys(OP_KERNELS) as OpKernel[])('%s.wgsl declares the bindings of OP_KERNELS, in order, and documents its math and thread mapping', (kernel) => {
    const source = opSource(kernel);
    const bindings = [...source.matchAll(/@group\(0\) @binding\((\d+)\) var<([\w, ]+)> (\w+):/g)].map(([, n, space, name]) => `${n} ${space} ${name}`);
    const { reads, writes } = OP_KERNELS[kernel];
    expect(bindings).toEqual([
      '0 uniform p',
      ...reads.map((name, i) => `${1 + i} storage, read ${name}`),
      ...writes.map((name, i) => `${1 + reads.length + i} storage, read_write ${name}`),
    ]);
    expect(source).toMatch(/^\/\/ \S/); // a header comment first
    expect(source).toMatch(/\/\/ Thread mapping: /);
    expect(source).toContain(`const WG = ${OP_WG}u;`);
    if (source.includes('MAX_HEAD_DIM')) expect(source).toContain(`const MAX_HEAD_DIM = ${MAX_HEAD_DIM}u;`);
  });

  it('packs u32 then f32 params into 16-byte blocks', () => {
    const data = packParams([3, 70000], [0.5]);
    expect(data.byteLength).toBe(16);
    expect([...new Uint32Array(data, 0, 2)]).toEqual([3, 70000]);
    expect(new Float32Array(data, 8, 1)[0]).toBe(0.5);
    expect(packParams([1, 2, 3, 4, 5], [1]).byteLength).toBe(32);
    expect(packParams([]).byteLength).toBe(16);
  });

  it('lays out workgroups within 65535 per dimension', () => {
    expect(gridFor(0)).toEqual([0, 1]);
    expect(gridFor(10)).toEqual([10, 1]);
    expect(gridFor(65535)).toEqual([65535, 1]);
    expect(gridFor(65536)).toEqual([65535, 2]);
    expect(gridFor(65535 * 65535)).toEqual([65535, 65535]);
    expect(() => gridFor(65535 * 65535 + 1)).toThrow(RangeError);
  });
});
