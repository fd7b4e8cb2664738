import { describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../../shared/model/random';
import { BACKEND_KINDS, chooseAutoBackend, createBackend, probeAdapter, usableBackendKinds, type BackendKind } from './index';

describe('createBackend', () => {
  const model = randomModel(tinyConfig(), 1);

  // Every kind, webgpu included: CI installs lavapipe, so a missing adapter fails here with its install hint.
  it.each(BACKEND_KINDS)('creates the %s backend', async (kind) => {
    const backend = await createBackend(model, kind, { threads: 1 });
    try {
      expect(backend.info.name).toBe(kind);
      const y = await backend.linear(0, 'o', new Float32Array(16).fill(1), 1);
      expect(y.length).toBe(16);
    } finally {
      await backend.dispose();
    }
  });

  it('rejects an unknown kind', async () => {
    await expect(createBackend(model, 'tpu' as BackendKind)).rejects.toThrow(/unknown backend kind "tpu" \(expected one of cpu, reference, webgpu\)/);
  });

  it('lists webgpu as usable exactly where Dawn finds an adapter', async () => {
    const adapter = await probeAdapter();
    expect(await usableBackendKinds()).toEqual(adapter ? ['cpu', 'reference', 'webgpu'] : ['cpu', 'reference']);
  });

  it('auto picks webgpu only on a hardware adapter, and says why', async () => {
    const adapter = await probeAdapter();
    const choice = await chooseAutoBackend();
    expect(choice.kind).toBe(adapter && !adapter.software ? 'webgpu' : 'cpu');
    if (adapter) expect(choice.reason).toContain(adapter.device);
  });
});
