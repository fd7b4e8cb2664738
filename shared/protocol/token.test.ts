import { describe, expect, it } from 'vitest';
import { newTokenId, signSessionToken, TokenError, verifySessionToken, type TokenClaims } from './token';

const SECRET = 'unit-test-secret-0123456789';
const NOW = 1_700_000_000;

const claims = (over: Partial<TokenClaims> = {}): TokenClaims => ({
  tenant: 'acme',
  exp: NOW + 600,
  jti: 'abcdefghijklmnop-1',
  limits: { maxSessions: 4, maxContext: 256, maxMemoryBytes: 1 << 20 },
  ...over,
});

const b64url = (text: string) => Buffer.from(text).toString('base64url');
const fromB64url = (text: string) => Buffer.from(text, 'base64url').toString();

async function rejects(token: string, message: string | RegExp, secret = SECRET, now = NOW): Promise<void> {
  const error = await verifySessionToken(token, secret, now).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TokenError);
  if (typeof message === 'string') expect((error as Error).message).toBe(message);
  else expect((error as Error).message).toMatch(message);
}

/** Re-signs a claims body of our choosing with the right secret (what an edge with a bug would do). */
async function signedBody(body: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const sig = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(body)));
  return `${body}.${Buffer.from(sig).toString('base64url')}`;
}

describe('session tokens', () => {
  it('sign → verify returns the claims', async () => {
    const c = claims();
    const token = await signSessionToken(c, SECRET);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(await verifySessionToken(token, SECRET, NOW)).toEqual(c);
    expect(JSON.parse(fromB64url(token.split('.')[0]))).toEqual(c);
  });

  it('token ids are unique and fit the schema', async () => {
    const ids = new Set(Array.from({ length: 50 }, newTokenId));
    expect(ids.size).toBe(50);
    const token = await signSessionToken(claims({ jti: newTokenId() }), SECRET);
    await expect(verifySessionToken(token, SECRET, NOW)).resolves.toBeTruthy();
  });

  it('signing refuses claims that fail the schema', async () => {
    await expect(signSessionToken(claims({ tenant: '' }), SECRET)).rejects.toThrow();
  });

  it('rejects tampered claims', async () => {
    const token = await signSessionToken(claims(), SECRET);
    const [body, sig] = token.split('.');
    const raised = b64url(JSON.stringify({ ...claims(), limits: { ...claims().limits, maxSessions: 1000 } }));
    expect(raised).not.toBe(body);
    await rejects(`${raised}.${sig}`, 'token signature is invalid');
  });

  it('rejects a tampered signature', async () => {
    const token = await signSessionToken(claims(), SECRET);
    const [body, sig] = token.split('.');
    const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    await rejects(`${body}.${flipped}`, 'token signature is invalid');
    await rejects(`${body}.`, 'token signature is invalid');
    await rejects(`${body}.${sig.slice(0, -4)}`, 'token signature is invalid');
  });

  it('rejects a token signed with another secret', async () => {
    const token = await signSessionToken(claims(), 'another-secret-0123456789');
    await rejects(token, 'token signature is invalid');
  });

  it('rejects an expired token (exp is exclusive)', async () => {
    const token = await signSessionToken(claims({ exp: NOW + 10 }), SECRET);
    await expect(verifySessionToken(token, SECRET, NOW + 9.5)).resolves.toBeTruthy();
    await rejects(token, 'token has expired', SECRET, NOW + 10);
    await rejects(token, 'token has expired', SECRET, NOW + 3600);
  });

  it('the default clock is the real time', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect(verifySessionToken(await signSessionToken(claims({ exp: now + 60 }), SECRET), SECRET)).resolves.toBeTruthy();
    await expect(verifySessionToken(await signSessionToken(claims({ exp: now - 60 }), SECRET), SECRET)).rejects.toThrow('token has expired');
  });

  it('rejects malformed tokens', async () => {
    const token = await signSessionToken(claims(), SECRET);
    const [body, sig] = token.split('.');
    await rejects('', 'token must be two base64url parts joined by "."');
    await rejects(body + sig, 'token must be two base64url parts joined by "."');
    await rejects(`${token}.${sig}`, 'token must be two base64url parts joined by "."');
    await rejects(`${body}.${sig.slice(0, 10)}+/=`, 'token is not base64url');
    await rejects(`${body}.sig nature`, 'token is not base64url');
    // base64url characters, but a length no base64 text can have (4k + 1)
    const cut = sig.slice(0, sig.length - ((sig.length - 1) % 4));
    expect(cut.length % 4).toBe(1);
    await rejects(`${body}.${cut}`, 'token is not base64url');
    await rejects(`${body}.A`, 'token is not base64url');
  });

  it('rejects a validly signed body that is not JSON', async () => {
    await rejects(await signedBody(b64url('not json')), 'token claims are not JSON');
  });

  it('rejects validly signed claims that fail the schema, naming the problem', async () => {
    await rejects(await signedBody(b64url(JSON.stringify({ ...claims(), admin: true }))), /^token claims are invalid: .*admin/);
    await rejects(await signedBody(b64url(JSON.stringify({ ...claims(), limits: { ...claims().limits, extra: 1 } }))), /^token claims are invalid: .*extra/);
    await rejects(await signedBody(b64url(JSON.stringify({ ...claims(), jti: 'short' }))), /^token claims are invalid: /);
    await rejects(await signedBody(b64url(JSON.stringify({ ...claims(), exp: '9999999999' }))), /^token claims are invalid: /);
    const { limits: _l, ...noLimits } = claims();
    await rejects(await signedBody(b64url(JSON.stringify(noLimits))), /^token claims are invalid: /);
  });

  it('rejects a secret shorter than 16 characters, both ways', async () => {
    await expect(signSessionToken(claims(), 'short')).rejects.toThrow(new TokenError('the session secret must be at least 16 characters'));
    const token = await signSessionToken(claims(), SECRET);
    await rejects(token, 'the session secret must be at least 16 characters', '0123456789abcde');
  });
});
