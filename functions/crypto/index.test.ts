import { describe, expect, it } from 'vitest';
import { Keyring, SealError, randomId, randomToken, secretsEqual, timingSafeEqual } from './index';

const master = btoa(String.fromCharCode(...new Uint8Array(32).map((_, i) => i * 7 + 1)));
const other = btoa(String.fromCharCode(...new Uint8Array(32).map((_, i) => i * 5 + 3)));
const plain = new TextEncoder().encode('lora_A weights, very secret');

describe('Keyring envelopes', () => {
  it('round-trips, and the ciphertext holds no plaintext', async () => {
    const ring = new Keyring(master);
    const sealed = await ring.seal('t1', 'adapters/t1/a/v1', plain);
    expect(new TextDecoder().decode(sealed)).not.toContain('secret');
    expect(await ring.open('t1', 'adapters/t1/a/v1', sealed)).toEqual(plain);
  });

  it('uses a fresh data key per seal', async () => {
    const ring = new Keyring(master);
    const a = await ring.seal('t1', 'k', plain);
    const b = await ring.seal('t1', 'k', plain);
    expect(a).not.toEqual(b);
  });

  it('refuses another tenant, another object name, another master key, and any flipped bit', async () => {
    const ring = new Keyring(master);
    const sealed = await ring.seal('t1', 'adapters/t1/a/v1', plain);
    await expect(ring.open('t2', 'adapters/t1/a/v1', sealed)).rejects.toThrow(SealError);
    await expect(ring.open('t1', 'adapters/t1/a/v2', sealed)).rejects.toThrow(/failed authentication/);
    await expect(new Keyring(other).open('t1', 'adapters/t1/a/v1', sealed)).rejects.toThrow(SealError);
    for (const at of [5, 20, 70, sealed.length - 1]) {
      const bad = sealed.slice();
      bad[at] ^= 1;
      await expect(ring.open('t1', 'adapters/t1/a/v1', bad)).rejects.toThrow(SealError);
    }
    await expect(ring.open('t1', 'x', plain)).rejects.toThrow(/not a Symbiosis envelope/);
  });
});

describe('secret helpers', () => {
  it('compares in constant time, with the right answer', async () => {
    expect(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0]))).toBe(false);
    expect(timingSafeEqual(new Uint8Array([]), new Uint8Array([0]))).toBe(false);
    expect(await secretsEqual('abc', 'abc')).toBe(true);
    expect(await secretsEqual('abc', 'abd')).toBe(false);
  });

  it('makes random tokens and ids of the stated size', () => {
    expect(randomToken(32)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomId(12)).toMatch(/^[a-z0-9]{12}$/);
    expect(randomToken(32)).not.toBe(randomToken(32));
  });
});
