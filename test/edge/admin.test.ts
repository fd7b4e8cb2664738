/**
 * The admin API and tenants' quotas, end to end (workerd → s3rver): creating tenants and their
 * API keys (shown once, stored only as a sealed hash), listing, disabling and enabling tenants,
 * issuing and revoking keys, admin authentication and strict bodies; then the per-tenant quotas
 * on adapter count, upload size and requests per minute.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IssuedKey, Tenant } from '../../shared/api/admin';
import type { AdapterInfo } from '../../shared/api/adapters';
import { writePeftAdapter } from '../../shared/adapters';
import { testAdapters } from '../../gpu-server/testing/fixtures';
import { bucketFiles, expectError, expectJson, filesContaining, storedKeys } from './bucket';
import { loadTestModel, peftForm, startEdgeFixture, type EdgeFixture } from './stack';

const KEY_PATTERN = /^sym_([a-z0-9]{12})_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$/;
const DEFAULT_QUOTAS = { maxAdapters: 100, maxAdapterBytes: 64 * 1024 * 1024, requestsPerMinute: 600 };

describe('admin API and quotas through the edge', () => {
  let fx: EdgeFixture;
  let lora: { configJson: string; safetensors: Uint8Array };
  let ia3: { configJson: string; safetensors: Uint8Array };

  beforeAll(async () => {
    const [fixture, dir] = await Promise.all([startEdgeFixture(), loadTestModel()]);
    fx = fixture;
    const adapters = testAdapters(dir.model);
    lora = writePeftAdapter(adapters.lora);
    ia3 = writePeftAdapter(adapters.ia3);
  }, 60_000);

  afterAll(async () => {
    await fx?.stop();
  }, 60_000);

  const listTenants = async () => (await expectJson<{ data: Tenant[] }>(await fx.admin('/admin/tenants'), 200)).data;
  const upload = (apiKey: string, name: string, files = lora) => fx.call(apiKey, `/v1/adapters/${name}`, { method: 'PUT', body: peftForm(files.configJson, files.safetensors) });

  describe('tenants and keys', () => {
    it('POST /admin/tenants → 201 with the tenant, default quotas and a random 256-bit API key', async () => {
      const res = await fx.admin('/admin/tenants', { body: { name: 'Acme' } });
      const issued = await expectJson<IssuedKey>(res, 201);
      const m = KEY_PATTERN.exec(issued.apiKey);
      expect(m, issued.apiKey).not.toBeNull();
      const [, tenantId, keyId, secret] = m!;
      expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
      expect(issued.keyId).toBe(keyId);
      expect(issued.tenant).toEqual({ id: tenantId, name: 'Acme', createdAt: expect.any(String), disabled: false, quotas: DEFAULT_QUOTAS, keys: [{ id: keyId, createdAt: expect.any(String) }] });
      // The key works at once, and it is new: a second tenant gets other ids and another secret.
      expect(await expectJson(await fx.call(issued.apiKey, '/v1/adapters'), 200)).toEqual({ object: 'list', data: [] });
      const other = await fx.createTenant('Acme');
      expect(other.tenant.id).not.toBe(tenantId);
      expect(other.apiKey.slice(`sym_${other.tenant.id}_${other.keyId}_`.length)).not.toBe(secret);
    });

    it('the API key is shown once: no later answer of the admin API holds its secret', async () => {
      const { tenant, apiKey } = await fx.createTenant('shown-once');
      const secret = KEY_PATTERN.exec(apiKey)![3];
      for (const path of ['/admin/tenants', `/admin/tenants/${tenant.id}`]) {
        const text = await (await fx.admin(path)).text();
        expect(text).toContain(tenant.id);
        expect(text).not.toContain(secret);
        expect(text).not.toMatch(/hash/i);
      }
      const second = await expectJson<IssuedKey>(await fx.admin(`/admin/tenants/${tenant.id}/keys`, { method: 'POST' }), 201);
      expect(JSON.stringify(second)).not.toContain(secret);
    });

    it('custom quotas at creation are merged over the defaults', async () => {
      const { tenant } = await fx.createTenant('custom-quotas', { maxAdapters: 3 });
      expect(tenant.quotas).toEqual({ ...DEFAULT_QUOTAS, maxAdapters: 3 });
      expect((await expectJson<Tenant>(await fx.admin(`/admin/tenants/${tenant.id}`), 200)).quotas).toEqual({ ...DEFAULT_QUOTAS, maxAdapters: 3 });
    });

    it('the bucket holds neither API keys nor their hashes nor any plaintext tenant record', async () => {
      const name = `probe-tenant-${Date.now()}-name`;
      const { tenant, apiKey } = await fx.createTenant(name);
      const secret = KEY_PATTERN.exec(apiKey)![3];
      const hash = createHash('sha256').update(secret).digest('hex');
      const keys = await storedKeys(fx.dir, 'tenants/');
      expect(keys).toContain(`tenants/${tenant.id}`);
      expect(await filesContaining(fx.dir, 'SYE1'), 'the scan reads the stored objects').not.toEqual([]);
      for (const needle of [apiKey, secret, hash, Buffer.from(hash, 'hex'), name, '"keyHashes"', '"quotas"', `"${tenant.id}"`]) {
        expect(await filesContaining(fx.dir, needle), String(needle)).toEqual([]);
      }
      // Every object is a sealed envelope; s3rver's own side files hold no tenant data.
      for (const f of await bucketFiles(fx.dir)) {
        if (f.path.endsWith('._S3rver_object')) expect(f.bytes.subarray(0, 4).toString('latin1'), f.path).toBe('SYE1');
      }
    });

    it('GET /admin/tenants lists every tenant, without keys or hashes', async () => {
      const a = await fx.createTenant('list-a');
      const b = await fx.createTenant('list-b');
      const tenants = await listTenants();
      const byId = new Map(tenants.map((t) => [t.id, t]));
      expect(byId.get(a.tenant.id)).toEqual(a.tenant);
      expect(byId.get(b.tenant.id)).toEqual(b.tenant);
      for (const t of tenants) expect(Object.keys(t).sort()).toEqual(['createdAt', 'disabled', 'id', 'keys', 'name', 'quotas']);
      expect(tenants.map((t) => t.createdAt)).toEqual(tenants.map((t) => t.createdAt).sort());
    });

    it('disabling a tenant makes its keys 403; enabling it lets them in again', async () => {
      const { tenant, apiKey } = await fx.createTenant('switch');
      expect((await fx.call(apiKey, '/v1/adapters')).status).toBe(200);

      const disabled = await expectJson<Tenant>(await fx.admin(`/admin/tenants/${tenant.id}/disable`, { method: 'POST' }), 200);
      expect(disabled.disabled).toBe(true);
      expect((await expectError(await fx.call(apiKey, '/v1/adapters'), 403)).code).toBe('tenant_disabled');
      expect((await expectError(await upload(apiKey, 'while-disabled'), 403)).code).toBe('tenant_disabled');
      expect((await expectJson<Tenant>(await fx.admin(`/admin/tenants/${tenant.id}`), 200)).disabled).toBe(true);
      expect(await storedKeys(fx.dir, `adapters/${tenant.id}/`)).toEqual([]);

      const enabled = await expectJson<Tenant>(await fx.admin(`/admin/tenants/${tenant.id}/enable`, { method: 'POST' }), 200);
      expect(enabled.disabled).toBe(false);
      expect((await fx.call(apiKey, '/v1/adapters')).status).toBe(200);
    });

    it('a second key works beside the first; a revoked key → 401 while the other still works', async () => {
      const first = await fx.createTenant('two-keys');
      const id = first.tenant.id;
      const second = await expectJson<IssuedKey>(await fx.admin(`/admin/tenants/${id}/keys`, { method: 'POST' }), 201);
      expect(second.apiKey).toMatch(KEY_PATTERN);
      expect(second.apiKey).not.toBe(first.apiKey);
      expect(KEY_PATTERN.exec(second.apiKey)![1]).toBe(id);
      expect(second.tenant.keys.map((k) => k.id)).toEqual([first.keyId, second.keyId]);

      // Both keys act as the same tenant: an adapter uploaded with one is listed with the other.
      expect((await upload(first.apiKey, 'shared-by-keys', ia3)).status).toBe(201);
      const listed = await expectJson<{ data: AdapterInfo[] }>(await fx.call(second.apiKey, '/v1/adapters'), 200);
      expect(listed.data.map((a) => a.name)).toEqual(['shared-by-keys']);

      const revoked = await expectJson<Tenant>(await fx.admin(`/admin/tenants/${id}/keys/${first.keyId}`, { method: 'DELETE' }), 200);
      expect(revoked.keys.find((k) => k.id === first.keyId)?.revokedAt).toEqual(expect.any(String));
      expect(revoked.keys.find((k) => k.id === second.keyId)?.revokedAt).toBeUndefined();
      expect((await expectError(await fx.call(first.apiKey, '/v1/adapters'), 401)).code).toBe('invalid_api_key');
      expect((await fx.call(second.apiKey, '/v1/adapters')).status).toBe(200);
      // Revoking again changes nothing; the key stays refused.
      const again = await expectJson<Tenant>(await fx.admin(`/admin/tenants/${id}/keys/${first.keyId}`, { method: 'DELETE' }), 200);
      expect(again.keys).toEqual(revoked.keys);
      expect((await fx.call(first.apiKey, '/v1/adapters')).status).toBe(401);
    });

    it('unknown tenants and keys → 404', async () => {
      const { tenant } = await fx.createTenant('known');
      for (const [method, path] of [
        ['GET', '/admin/tenants/aaaaaaaaaaaa'],
        ['POST', '/admin/tenants/aaaaaaaaaaaa/disable'],
        ['POST', '/admin/tenants/aaaaaaaaaaaa/enable'],
        ['POST', '/admin/tenants/aaaaaaaaaaaa/keys'],
        ['GET', '/admin/tenants/..%2F..%2Fsecrets'],
        ['DELETE', `/admin/tenants/${tenant.id}/keys/zzzzzzzz`],
      ]) {
        expect((await expectError(await fx.admin(path, { method }), 404)).code, `${method} ${path}`).toBe('not_found');
      }
    });

    it('a wrong or missing admin token → 401, and nothing is created', async () => {
      const before = (await listTenants()).length;
      const { apiKey } = await fx.createTenant('not-an-admin');
      const token = fx.stack.env.ADMIN_TOKEN;
      const attempts: [string, Record<string, string>][] = [
        ['missing', {}],
        ['empty', { authorization: 'Bearer ' }],
        ['wrong', { authorization: `Bearer ${'x'.repeat(token.length)}` }],
        ['one character off', { authorization: `Bearer ${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}` }],
        ['a prefix of it', { authorization: `Bearer ${token.slice(0, 16)}` }],
        ['with a suffix', { authorization: `Bearer ${token}x` }],
        ['not a bearer token', { authorization: `Basic ${token}` }],
        ['a tenant key', { authorization: `Bearer ${apiKey}` }],
      ];
      for (const [what, headers] of attempts) {
        const list = await fetch(`${fx.url}/admin/tenants`, { headers });
        expect((await expectError(list, 401)).type, what).toBe('authentication_error');
        const create = await fetch(`${fx.url}/admin/tenants`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ name: `intruder ${what}` }) });
        await expectError(create, 401);
      }
      expect((await listTenants()).length).toBe(before + 1);
      expect((await listTenants()).map((t) => t.name)).not.toContain('intruder missing');
      // And the admin token is not a tenant key.
      expect((await fx.call(token, '/v1/adapters')).status).toBe(401);
    });

    it.each([
      [{ name: 'x', color: 'red' }, 'unsupported_field', 'color', /unsupported field "color"/],
      [{ name: 'x', quotas: { maxAdapters: 2, bogus: 1 } }, 'unsupported_field', 'quotas.bogus', /"quotas\.bogus"/],
      [{ name: 'x', apiKey: 'sym_chosen' }, 'unsupported_field', 'apiKey', /"apiKey"/],
      [{}, 'invalid_field', 'name', /name/],
      [{ name: '   ' }, 'invalid_field', 'name', /name/],
      [{ name: 'x', quotas: { maxAdapters: -1 } }, 'invalid_field', 'quotas.maxAdapters', /quotas\.maxAdapters/],
      [{ name: 'x', quotas: { requestsPerMinute: 1.5 } }, 'invalid_field', 'quotas.requestsPerMinute', /quotas\.requestsPerMinute/],
    ])('POST /admin/tenants %j → 400 naming the field, nothing created', async (body, code, param, message) => {
      const before = (await listTenants()).length;
      const error = await expectError(await fx.admin('/admin/tenants', { body }), 400);
      expect(error).toMatchObject({ type: 'invalid_request_error', code, param });
      expect(error.message).toMatch(message);
      expect((await listTenants()).length).toBe(before);
    });

    it('a body that is not JSON → 400', async () => {
      const res = await fetch(`${fx.url}/admin/tenants`, { method: 'POST', headers: { authorization: `Bearer ${fx.stack.env.ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{"name":' });
      expect((await expectError(res, 400)).code).toBe('invalid_json');
    });
  });

  describe('quotas', () => {
    it('adapter count: one name beyond maxAdapters → 403 quota_exceeded; new versions and freed slots still fit', async () => {
      const { tenant, apiKey } = await fx.createTenant('count-quota', { maxAdapters: 2 });
      expect((await upload(apiKey, 'one')).status).toBe(201);
      expect((await upload(apiKey, 'two', ia3)).status).toBe(201);
      const before = await storedKeys(fx.dir, `adapters/${tenant.id}/`);

      const error = await expectError(await upload(apiKey, 'three'), 403);
      expect(error).toMatchObject({ code: 'quota_exceeded', type: 'permission_error' });
      expect(error.message).toMatch(/2 adapters/);
      expect(await storedKeys(fx.dir, `adapters/${tenant.id}/`)).toEqual(before);
      expect((await expectJson<{ data: AdapterInfo[] }>(await fx.call(apiKey, '/v1/adapters'), 200)).data.map((a) => a.name).sort()).toEqual(['one', 'two']);

      // A new version of a held name is not a new adapter.
      expect((await upload(apiKey, 'one', ia3)).status).toBe(201);
      // Deleting one frees its slot.
      expect((await fx.call(apiKey, '/v1/adapters/two', { method: 'DELETE' })).status).toBe(200);
      expect((await upload(apiKey, 'three')).status).toBe(201);
      expect((await expectError(await upload(apiKey, 'four'), 403)).code).toBe('quota_exceeded');
    });

    it('adapter count under concurrent uploads of new names: never above maxAdapters once they settle, and the refused leave nothing stored', async () => {
      const { tenant, apiKey } = await fx.createTenant('count-race', { maxAdapters: 3 });
      expect((await upload(apiKey, 'held')).status).toBe(201);
      const names = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
      const results = await Promise.all(names.map((n) => upload(apiKey, n)));
      const won = names.filter((_, i) => results[i].status === 201);
      for (const [i, res] of results.entries()) {
        if (res.status === 201) continue;
        expect([403, 409], names[i]).toContain(res.status);
        expect((await expectError(res, res.status)).code).toBe('quota_exceeded');
      }
      expect(won.length).toBeLessThanOrEqual(2);
      const listed = (await expectJson<{ data: AdapterInfo[] }>(await fx.call(apiKey, '/v1/adapters'), 200)).data.map((a) => a.name).sort();
      expect(listed).toEqual(['held', ...won].sort());
      // Nothing of a refused upload remains: every stored key belongs to a listed adapter.
      for (const key of await storedKeys(fx.dir, `adapters/${tenant.id}/`)) expect(listed, key).toContain(key.split('/')[2]);
    });

    it('an upload over maxAdapterBytes → 413 and nothing stored', async () => {
      const size = lora.safetensors.length + Buffer.byteLength(lora.configJson);
      const { tenant, apiKey } = await fx.createTenant('size-quota', { maxAdapterBytes: size - 1 });
      // Just over: refused after reading the parts.
      const error = await expectError(await upload(apiKey, 'just-over'), 413);
      expect(error).toMatchObject({ code: 'upload_too_large', type: 'invalid_request_error' });
      expect(error.message).toContain(String(size - 1));
      // Far over: refused from its Content-Length alone.
      const huge = new Uint8Array(size + 64 * 1024);
      huge.set(lora.safetensors);
      // The edge answers before reading the body; a client still writing may see the connection
      // reset instead of the 413 (as with any HTTP server that refuses early). Either way: refused.
      const farOver = await upload(apiKey, 'far-over', { configJson: lora.configJson, safetensors: huge }).catch((e: Error & { cause?: { code?: string } }) => {
        expect(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']).toContain(e.cause?.code);
        return undefined;
      });
      if (farOver) expect((await expectError(farOver, 413)).code).toBe('upload_too_large');

      expect((await expectJson<{ data: AdapterInfo[] }>(await fx.call(apiKey, '/v1/adapters'), 200)).data).toEqual([]);
      expect(await storedKeys(fx.dir, `adapters/${tenant.id}/`)).toEqual([]);
      // One that fits is taken.
      expect(ia3.safetensors.length + ia3.configJson.length).toBeLessThan(size - 1);
      expect((await upload(apiKey, 'fits', ia3)).status).toBe(201);
    });

    it('a streamed upload without Content-Length is refused at the limit → 413, without waiting for the rest', async () => {
      const limit = 1000;
      const { tenant, apiKey } = await fx.createTenant('streamed-size-quota', { maxAdapterBytes: limit });
      // Just over what the edge reads of an upload (the limit plus 16 KiB of multipart framing),
      // then the stream waits: an edge that buffers whole bodies would wait with it.
      const head = new TextEncoder().encode('--XYZ\r\nContent-Disposition: form-data; name="adapter_model.safetensors"; filename="a"\r\n\r\n');
      const sent = new Uint8Array(limit + 16 * 1024 + 1).fill(0x41);
      sent.set(head);
      let release!: () => void;
      const released = new Promise<void>((done) => (release = done));
      let timedOut = false;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(sent);
        },
        async pull(controller) {
          const timer = setTimeout(() => {
            timedOut = true;
            release();
          }, 15_000);
          await released;
          clearTimeout(timer);
          controller.close();
        },
      });
      const res = await fetch(`${fx.url}/v1/adapters/streamed`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'multipart/form-data; boundary=XYZ' },
        body,
        duplex: 'half',
      } as RequestInit);
      const error = await expectError(res, 413);
      release();
      expect(timedOut).toBe(false);
      expect(error.message).toMatch(/more than 1000 bytes/);
      expect(await storedKeys(fx.dir, `adapters/${tenant.id}/`)).toEqual([]);
    }, 30_000);

    it('requests beyond requestsPerMinute → 429 with Retry-After; other tenants are not affected', async () => {
      const limited = await fx.createTenant('rate-limited', { requestsPerMinute: 3 });
      const other = await fx.createTenant('not-limited', { requestsPerMinute: 3 });
      for (let i = 0; i < 3; i++) expect((await fx.call(limited.apiKey, '/v1/adapters')).status).toBe(200);
      const res = await fx.call(limited.apiKey, '/v1/adapters');
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      const error = await expectError(res, 429);
      expect(error).toMatchObject({ code: 'rate_limit_exceeded', type: 'rate_limit_error' });
      expect(error.message).toMatch(/3 requests per minute/);
      // Every route counts, uploads included.
      expect((await upload(limited.apiKey, 'limited')).status).toBe(429);
      expect(await storedKeys(fx.dir, `adapters/${limited.tenant.id}/`)).toEqual([]);
      expect((await fx.call(other.apiKey, '/v1/adapters')).status).toBe(200);
    });
  });
});
