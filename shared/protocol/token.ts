/**
 * Session tokens: the edge signs, the base-model server verifies, with a shared secret.
 * `base64url(JSON claims) "." base64url(HMAC-SHA256(secret, first part))`. Verification uses
 * crypto.subtle.verify, which compares in constant time.
 */
import { z } from 'zod';

export const TokenClaimsSchema = z.strictObject({
  tenant: z.string().min(1).max(128),
  /** Expiry, seconds since the epoch. */
  exp: z.number().int().positive(),
  /** A unique id, so a token cannot be replayed after its session closed. */
  jti: z.string().min(16).max(64),
  limits: z.strictObject({
    maxSessions: z.number().int().positive(),
    maxContext: z.number().int().positive(),
    /** KV cache + training activations of all the tenant's sessions, bytes. */
    maxMemoryBytes: z.number().int().positive(),
  }),
});
export type TokenClaims = z.infer<typeof TokenClaimsSchema>;

export class TokenError extends Error {}

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  // A length of 4k + 1 is no base64 text either (atob would throw a DOMException).
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new TokenError('token is not base64url');
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

async function hmacKey(secret: string): Promise<CryptoKey> {
  if (secret.length < 16) throw new TokenError('the session secret must be at least 16 characters');
  return crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

export function newTokenId(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(16)));
}

export async function signSessionToken(claims: TokenClaims, secret: string): Promise<string> {
  const body = base64url(encoder.encode(JSON.stringify(TokenClaimsSchema.parse(claims))));
  const sig = new Uint8Array(await crypto.subtle.sign('HMAC', await hmacKey(secret), encoder.encode(body)));
  return `${body}.${base64url(sig)}`;
}

/** A token valid for an hour, for a development server or a bench whose secret the caller holds (the edge mints real ones). */
export function devSessionToken(secret: string, tenant: string, limits: TokenClaims['limits']): Promise<string> {
  return signSessionToken({ tenant, exp: Math.floor(Date.now() / 1000) + 3600, jti: newTokenId(), limits }, secret);
}

/** Returns the claims of a valid, unexpired token; throws TokenError naming the problem otherwise. */
export async function verifySessionToken(token: string, secret: string, nowSeconds = Date.now() / 1000): Promise<TokenClaims> {
  const parts = token.split('.');
  if (parts.length !== 2) throw new TokenError('token must be two base64url parts joined by "."');
  const [body, sig] = parts;
  const ok = await crypto.subtle.verify('HMAC', await hmacKey(secret), fromBase64url(sig), encoder.encode(body));
  if (!ok) throw new TokenError('token signature is invalid');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(fromBase64url(body)));
  } catch {
    throw new TokenError('token claims are not JSON');
  }
  const claims = TokenClaimsSchema.safeParse(json);
  if (!claims.success) throw new TokenError(`token claims are invalid: ${claims.error.issues[0].message}`);
  if (claims.data.exp <= nowSeconds) throw new TokenError('token has expired');
  return claims.data;
}
