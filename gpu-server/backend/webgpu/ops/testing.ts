/**
 * What the op parity tests share: the device (on whatever adapter Dawn finds — lavapipe on the
 * development and CI machines; without one the tests fail with the install hint, as the backend's
 * tests do: CI installs the driver, so a missing one is a broken environment, not a skip), seeded
 * inputs and the tolerance check.
 */
import { findAdapter, NO_ADAPTER_MESSAGE } from '../adapter';
import { ArrayOps } from './arrays';
import { opsFor, requestOpsDevice, type WebGpuOps } from './index';
import { expectCloseToScale, randomFloats } from '../../../testing/numeric';

export interface TestGpu {
  device: GPUDevice;
  ops: WebGpuOps;
  arrays: ArrayOps;
}

export async function testGpu(): Promise<TestGpu> {
  const adapter = await findAdapter();
  if (!adapter) throw new Error(NO_ADAPTER_MESSAGE);
  const device = await requestOpsDevice(adapter);
  const ops = await opsFor(device);
  return { device, ops, arrays: new ArrayOps(ops) };
}

/** Integers in [0, n), from the same generator. */
export function randomIds(count: number, n: number, seed: number): number[] {
  return Array.from(randomFloats(count, seed), (x) => Math.min(n - 1, Math.floor(((x + 1) / 2) * n)));
}

/**
 * Every element within tol · max(1, max|expected|) of the expected (float64-accumulated) value:
 * the bound scales with the result, but not below an absolute tol for results near zero.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  expectCloseToScale(actual, expected, tol, what, 1);
}
