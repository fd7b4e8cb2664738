/**
 * Envelope encryption for everything the edge stores (web crypto only):
 *
 *   tenant key = HKDF-SHA256(MASTER_KEY, salt "symbiosis/v1", info "tenant:" + tenant)
 *   data key   = 32 fresh random bytes per object version
 *   envelope   = "SYE1" | iv_k[12] | AES-GCM(tenant key, iv_k, data key, aad)[48]
 *                       | iv[12]   | AES-GCM(data key, iv, plaintext, aad)
 *
 * The associated data names the object (tenant, kind, name, version), so a ciphertext moved to
 * another key, tenant or version fails to open instead of decrypting as someone else's data.
 */
const MAGIC = new TextEncoder().encode('SYE1');
const IV = 12;
const WRAPPED = 32 + 16;
const HEADER = MAGIC.length + IV + WRAPPED + IV;

export class SealError extends Error {
  override name = 'SealError';
}

export class Keyring {
  private readonly tenantKeys = new Map<string, Promise<CryptoKey>>();
  private readonly master: Promise<CryptoKey>;

  /** masterKeyBase64: 32 bytes, base64 (validated by the env schema). */
  constructor(masterKeyBase64: string) {
    const raw = Uint8Array.from(atob(masterKeyBase64), (c) => c.charCodeAt(0));
    this.master = crypto.subtle.importKey('raw', raw, 'HKDF', false, ['deriveKey']);
  }

  tenantKey(tenant: string): Promise<CryptoKey> {
    let key = this.tenantKeys.get(tenant);
    if (!key) {
      const enc = new TextEncoder();
      key = this.master.then((m) =>
        crypto.subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: enc.encode('symbiosis/v1'), info: enc.encode(`tenant:${tenant}`) }, m, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']),
      );
      this.tenantKeys.set(tenant, key);
    }
    return key;
  }

  async seal(tenant: string, aad: string, plaintext: Uint8Array): Promise<Uint8Array> {
    const ad = new TextEncoder().encode(aad);
    const rawDataKey = crypto.getRandomValues(new Uint8Array(32));
    const dataKey = await crypto.subtle.importKey('raw', rawDataKey, 'AES-GCM', false, ['encrypt']);
    const ivKey = crypto.getRandomValues(new Uint8Array(IV));
    const iv = crypto.getRandomValues(new Uint8Array(IV));
    const wrapped = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: ivKey, additionalData: ad }, await this.tenantKey(tenant), rawDataKey));
    const body = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: ad }, dataKey, plaintext as Uint8Array<ArrayBuffer>));
    rawDataKey.fill(0);
    const out = new Uint8Array(HEADER + body.length);
    out.set(MAGIC, 0);
    out.set(ivKey, MAGIC.length);
    out.set(wrapped, MAGIC.length + IV);
    out.set(iv, MAGIC.length + IV + WRAPPED);
    out.set(body, HEADER);
    return out;
  }

  async open(tenant: string, aad: string, envelope: Uint8Array): Promise<Uint8Array> {
    if (envelope.length < HEADER + 16 || MAGIC.some((b, i) => envelope[i] !== b)) throw new SealError(`object "${aad}" is not a Symbiosis envelope`);
    const ad = new TextEncoder().encode(aad);
    const at = (offset: number, length: number) => envelope.slice(offset, offset + length);
    try {
      const rawDataKey = new Uint8Array(
        await crypto.subtle.decrypt({ name: 'AES-GCM', iv: at(MAGIC.length, IV), additionalData: ad }, await this.tenantKey(tenant), at(MAGIC.length + IV, WRAPPED)),
      );
      const dataKey = await crypto.subtle.importKey('raw', rawDataKey, 'AES-GCM', false, ['decrypt']);
      rawDataKey.fill(0);
      return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: at(MAGIC.length + IV + WRAPPED, IV), additionalData: ad }, dataKey, envelope.slice(HEADER)));
    } catch {
      throw new SealError(`object "${aad}" failed authentication: it was tampered with, moved, or sealed under another key`);
    }
  }
}

export async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Constant-time equality: the time depends on the lengths only, never on where bytes differ. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a[i % (a.length || 1)] ?? 0) ^ (b[i % (b.length || 1)] ?? 0);
  return diff === 0;
}

/** Compares two secrets as their SHA-256 digests, so neither length nor content leaks through timing. */
export async function secretsEqual(a: string, b: string): Promise<boolean> {
  const enc = new TextEncoder();
  const [ha, hb] = await Promise.all([sha256(enc.encode(a)), sha256(enc.encode(b))]);
  return timingSafeEqual(ha, hb);
}

/** `bytes` random bytes as base64url. */
export function randomToken(bytes: number): string {
  let s = '';
  for (const b of crypto.getRandomValues(new Uint8Array(bytes))) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A short random id of lowercase letters and digits (no separators, safe in keys and URLs). */
export function randomId(length = 12): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(crypto.getRandomValues(new Uint8Array(length)), (b) => alphabet[b % 36]).join('');
}
