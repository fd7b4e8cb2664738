/**
 * The edge against an adversary, end to end (workerd → s3rver → symbiosis serve): one tenant
 * probing another's adapters by name, path tricks and doctored keys; objects tampered with or
 * moved in the bucket; no plaintext weights or configs anywhere in the bucket; and the store
 * going away (503, never a silent miss).
 */
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IssuedKey } from '../../shared/api/admin';
import type { AdapterInfo } from '../../shared/api/adapters';
import { writePeftAdapter } from '../../shared/adapters';
import { testAdapters } from '../../gpu-server/testing/fixtures';
import { bucketFiles, expectError, expectJson, filesContaining, objectPath, storedKeys } from './bucket';
import { loadTestModel, peftForm, startEdgeFixture, type EdgeFixture } from './stack';

type Files = { configJson: string; safetensors: Uint8Array };

/** A request sent with its path exactly as written (fetch would resolve "..", "%2e%2e" and the like first). */
function rawRequest(url: string, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The s3rver files that make up one object (its bytes, MD5 and metadata). */
const sideFiles = (path: string) => [path, `${path}.md5`, path.replace(/_S3rver_object$/, '_S3rver_metadata.json')];

async function copyObject(dir: string, from: string, to: string): Promise<void> {
  const [src, dst] = [sideFiles(objectPath(dir, from)), sideFiles(objectPath(dir, to))];
  await mkdir(dirname(dst[0]), { recursive: true });
  for (let i = 0; i < src.length; i++) await copyFile(src[i], dst[i]);
}

async function removeObject(dir: string, key: string): Promise<void> {
  for (const f of sideFiles(objectPath(dir, key))) await rm(f, { force: true });
}

/** Flips one bit of a stored object's bytes (s3rver serves the file as it is on disk). */
async function flipByte(dir: string, key: string, at: (length: number) => number): Promise<void> {
  const path = objectPath(dir, key);
  const bytes = await readFile(path);
  bytes[at(bytes.length)] ^= 0x01;
  await writeFile(path, bytes);
}

/** Distinctive 16-byte runs of a file's content: the tensors' data and the config text. */
function runsOf(files: Files): Buffer[] {
  const st = Buffer.from(files.safetensors);
  const dataStart = 8 + Number(st.readBigUInt64LE(0));
  const runs: Buffer[] = [];
  for (let i = dataStart; i + 16 <= st.length && runs.length < 64; i += Math.max(16, Math.floor((st.length - dataStart) / 64))) runs.push(st.subarray(i, i + 16));
  const config = Buffer.from(files.configJson);
  for (let i = 0; i + 16 <= config.length; i += 16) {
    const run = config.subarray(i, i + 16);
    if (/[A-Za-z]{3}/.test(run.toString())) runs.push(run);
  }
  runs.push(st.subarray(8, 8 + 32)); // the safetensors header's JSON
  return runs;
}

/** An API key's tenant id, key id and secret. The secret is base64url and may itself contain '_': split off the prefix, not at every '_'. */
const keyParts = (key: string): string[] => /^sym_([^_]+)_([^_]+)_(.+)$/.exec(key)!.slice(1);

describe('security of the edge: isolation, integrity, confidentiality', () => {
  let fx: EdgeFixture;
  let files: Record<'lora' | 'dora' | 'ia3' | 'prompt', Files>;
  const uploadedFiles: Files[] = [];
  let a: IssuedKey;
  let b: IssuedKey;
  let aLora: AdapterInfo;

  const upload = async (apiKey: string, name: string, f: Files) => {
    const res = await fx.call(apiKey, `/v1/adapters/${name}`, { method: 'PUT', body: peftForm(f.configJson, f.safetensors) });
    const info = await expectJson<AdapterInfo>(res, 201);
    uploadedFiles.push(f);
    return info;
  };
  const complete = (apiKey: string, model: string) => fx.call(apiKey, '/v1/completions', { body: { model, prompt: 'Once upon a time', max_tokens: 2 } });
  const download = (apiKey: string, name: string) => fx.call(apiKey, `/v1/adapters/${name}/download`);
  async function expectExactDownload(apiKey: string, name: string, f: Files) {
    const res = await download(apiKey, name);
    expect(res.status).toBe(200);
    const form = await res.formData();
    expect(await (form.get('adapter_config.json') as File).text()).toBe(f.configJson);
    expect(Buffer.from(await (form.get('adapter_model.safetensors') as File).arrayBuffer()).equals(Buffer.from(f.safetensors))).toBe(true);
  }
  /** Nothing of A's secret adapter (config, tensors, metadata) in an answer given to someone else. */
  function expectNoLeak(text: string) {
    expect(text).not.toContain(files.lora.configJson.slice(0, 64));
    expect(text).not.toContain('lora_A');
    expect(text).not.toContain(aLora.sha256);
    expect(text).not.toContain(aLora.createdAt);
  }

  beforeAll(async () => {
    const [fixture, dir] = await Promise.all([startEdgeFixture(), loadTestModel()]);
    fx = fixture;
    const adapters = testAdapters(dir.model);
    files = { lora: writePeftAdapter(adapters.lora), dora: writePeftAdapter(adapters.dora), ia3: writePeftAdapter(adapters.ia3), prompt: writePeftAdapter(adapters.prompt) };
    [a, b] = await Promise.all([fx.createTenant('tenant-a'), fx.createTenant('tenant-b')]);
    aLora = await upload(a.apiKey, 'secret-lora', files.lora);
    await upload(b.apiKey, 'b-own', files.prompt);
  }, 60_000);

  afterAll(async () => {
    // The last test stops s3rver, and the stack's stop does not expect that: clean up regardless.
    await fx?.stop().catch(() => rm(fx.dir, { recursive: true, force: true }));
  }, 60_000);

  describe('tenant B against tenant A', () => {
    /** A's adapter is exactly as uploaded, and nothing else was added to A. */
    async function expectAIntact() {
      const listed = await expectJson<{ data: AdapterInfo[] }>(await fx.call(a.apiKey, '/v1/adapters'), 200);
      expect(listed.data).toEqual([aLora]);
      await expectExactDownload(a.apiKey, 'secret-lora', files.lora);
    }

    it('B cannot read, download, use, list or delete A\'s adapter by its name', async () => {
      const attempts = [
        () => fx.call(b.apiKey, '/v1/adapters/secret-lora'),
        () => download(b.apiKey, 'secret-lora'),
        () => fx.call(b.apiKey, `/v1/adapters/secret-lora/download?version=${aLora.version}`),
        () => fx.call(b.apiKey, `/v1/adapters/b-own/download?version=${encodeURIComponent(`../secret-lora/${aLora.version}`)}`),
        () => fx.call(b.apiKey, `/v1/adapters/b-own/download?version=${encodeURIComponent(`../../${a.tenant.id}/secret-lora/${aLora.version}`)}`),
        () => complete(b.apiKey, 'secret-lora'),
        () => complete(b.apiKey, `${a.tenant.id}/secret-lora`),
        () => complete(b.apiKey, `../${a.tenant.id}/secret-lora`),
        () => complete(b.apiKey, `../../adapters/${a.tenant.id}/secret-lora`),
        () => fx.call(b.apiKey, '/v1/adapters/secret-lora', { method: 'DELETE' }),
      ];
      for (const attempt of attempts) {
        const res = await attempt();
        const text = await res.clone().text();
        expectNoLeak(text);
        expect((await expectError(res, 404)).code, text).toBe('not_found');
      }
      const listed = await expectJson<{ data: AdapterInfo[] }>(await fx.call(b.apiKey, '/v1/adapters'), 200);
      expect(listed.data.map((x) => x.name)).toEqual(['b-own']);
      const models = await expectJson<{ data: { id: string; owned_by: string }[] }>(await fx.call(b.apiKey, '/v1/models'), 200);
      expect(models.data.map((m) => m.id).sort()).toEqual(['b-own', 'stories260K']);
      expect(JSON.stringify(models)).not.toContain(a.tenant.id);
      await expectAIntact();
    });

    it('B uploading under A\'s adapter name makes B\'s own adapter; A\'s is untouched', async () => {
      const mine = await upload(b.apiKey, 'secret-lora', files.ia3);
      expect(mine.versions).toEqual([mine.version]);
      expect(mine.type).toBe('IA3');
      await expectExactDownload(b.apiKey, 'secret-lora', files.ia3);
      await expectAIntact();
      // And B deleting its own removes only its own.
      expect((await fx.call(b.apiKey, '/v1/adapters/secret-lora', { method: 'DELETE' })).status).toBe(200);
      expect(await storedKeys(fx.dir, `adapters/${b.tenant.id}/secret-lora/`)).toEqual([]);
      await expectAIntact();
    });

    it('path tricks (A\'s id in the path, encoded slashes, "..") reach nothing of A\'s', async () => {
      const id = a.tenant.id;
      const paths = [
        `/v1/adapters/${id}/secret-lora`,
        `/v1/adapters/${id}/secret-lora/download`,
        `/v1/adapters/${id}%2Fsecret-lora`,
        `/v1/adapters/${id}%2fsecret-lora/download`,
        `/v1/adapters/..%2F${id}%2Fsecret-lora`,
        `/v1/adapters/..%2F..%2Fadapters%2F${id}%2Fsecret-lora/download`,
        `/v1/adapters/../../adapters/${id}/secret-lora`,
        `/v1/adapters/%2e%2e/%2e%2e/adapters/${id}/secret-lora/download`,
        `/v1/adapters/..`,
        `/v1/adapters/%2e%2e`,
        `/v1/adapters/.%2e/${id}/secret-lora`,
        `/v1/adapters/secret-lora%2F..%2F..%2F${id}%2Fsecret-lora`,
        `/v1/adapters/b-own/..%2F..%2F${id}%2Fsecret-lora/download`,
        `/adapters/${id}/secret-lora/download`,
        `/v1/../v1/adapters/${id}%2Fsecret-lora`,
        `/v1/../admin/tenants`,
        `/v1/../admin/tenants/${id}`,
        `/v1/adapters/secret-lora%00/download`,
        `/v1/adapters/secret-lora%0A`,
        `/v1/adapters/SECRET-LORA`,
      ];
      for (const method of ['GET', 'DELETE', 'PUT']) {
        for (const path of paths) {
          const res = await rawRequest(fx.url, method, path, { authorization: `Bearer ${b.apiKey}` });
          expect(Math.floor(res.status / 100), `${method} ${path}: ${res.status} ${res.body}`).toBe(4);
          expect(() => JSON.parse(res.body), `${method} ${path}`).not.toThrow();
          expectNoLeak(res.body);
        }
      }
      await expectAIntact();
      // B still holds only its own adapter.
      expect((await storedKeys(fx.dir, 'adapters/')).filter((k) => !k.startsWith(`adapters/${a.tenant.id}/`) && !k.startsWith(`adapters/${b.tenant.id}/b-own/`))).toEqual([]);
    });

    it('doctored keys are refused: ids swapped, secret modified, truncated or extended', async () => {
      const [aId, aKeyId, aSecret] = keyParts(a.apiKey);
      const [bId, bKeyId, bSecret] = keyParts(b.apiKey);
      const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
      const doctored = {
        "A's key with B's tenant id": `sym_${bId}_${aKeyId}_${aSecret}`,
        "B's key with A's tenant id": `sym_${aId}_${bKeyId}_${bSecret}`,
        "A's id and key id with B's secret": `sym_${aId}_${aKeyId}_${bSecret}`,
        "B's id and secret with A's key id": `sym_${bId}_${aKeyId}_${bSecret}`,
        'the first character of the secret changed': `sym_${aId}_${aKeyId}_${flip(aSecret, 0)}`,
        'the last character of the secret changed': `sym_${aId}_${aKeyId}_${flip(aSecret, aSecret.length - 1)}`,
        'the secret truncated': `sym_${aId}_${aKeyId}_${aSecret.slice(0, -1)}`,
        'the secret extended': `sym_${aId}_${aKeyId}_${aSecret}A`,
        'the key id changed': `sym_${aId}_${flip(aKeyId, 0)}_${aSecret}`,
        'the tenant id upper-cased': `sym_${aId.toUpperCase()}_${aKeyId}_${aSecret}`,
        'only the secret': aSecret,
        'an empty secret': `sym_${aId}_${aKeyId}_`,
        'prototype names': `sym_${aId}_proto___${aSecret}`,
      };
      for (const [what, key] of Object.entries(doctored)) {
        for (const path of ['/v1/adapters', '/v1/adapters/secret-lora/download']) {
          const res = await fx.call(key, path);
          expectNoLeak(await res.clone().text());
          expect((await expectError(res, 401)).code, what).toBe('invalid_api_key');
        }
      }
      // The real keys still work.
      expect((await fx.call(a.apiKey, '/v1/adapters')).status).toBe(200);
      expect((await fx.call(b.apiKey, '/v1/adapters')).status).toBe(200);
    });
  });

  describe('objects tampered with or moved in the bucket', () => {
    let t: IssuedKey;
    let weightsVictim: AdapterInfo;
    let metaVictim: AdapterInfo;

    beforeAll(async () => {
      t = await fx.createTenant('tampered');
      weightsVictim = await upload(t.apiKey, 'weights-victim', files.lora);
      metaVictim = await upload(t.apiKey, 'meta-victim', files.dora);
      await upload(t.apiKey, 'bystander', files.ia3);
    });

    const key = (info: AdapterInfo, suffix = '') => `adapters/${t.tenant.id}/${info.name}/${info.version}${suffix}`;

    it('a flipped byte in stored weights → the download is a JSON error, never the weights', async () => {
      await flipByte(fx.dir, key(weightsVictim), (n) => Math.floor(n * 0.6));
      const res = await download(t.apiKey, 'weights-victim');
      expect(res.headers.get('content-type')).not.toMatch(/multipart/);
      expect((await expectError(res, 500)).code).toBe('integrity_error');
      // Its metadata (a separate object) is intact.
      expect((await expectJson<AdapterInfo>(await fx.call(t.apiKey, '/v1/adapters/weights-victim'), 200)).sha256).toBe(weightsVictim.sha256);
    });

    it('a flipped byte in the wrapped data key, or in the magic, fails the same way', async () => {
      await flipByte(fx.dir, key(weightsVictim), () => 20);
      expect((await expectError(await download(t.apiKey, 'weights-victim'), 500)).code).toBe('integrity_error');
      await flipByte(fx.dir, key(weightsVictim), () => 0);
      expect((await expectError(await download(t.apiKey, 'weights-victim'), 500)).code).toBe('integrity_error');
    });

    it('a flipped byte in stored metadata → metadata, download and inference all fail with a JSON error', async () => {
      await flipByte(fx.dir, key(metaVictim, '.meta'), (n) => n - 1);
      expect((await expectError(await fx.call(t.apiKey, '/v1/adapters/meta-victim'), 500)).code).toBe('integrity_error');
      expect((await expectError(await download(t.apiKey, 'meta-victim'), 500)).code).toBe('integrity_error');
      expect((await expectError(await complete(t.apiKey, 'meta-victim'), 500)).code).toBe('integrity_error');
    });

    it('the tenant\'s other adapters, and other tenants, still work', async () => {
      await expectExactDownload(t.apiKey, 'bystander', files.ia3);
      expect((await fx.call(t.apiKey, '/v1/adapters/bystander')).status).toBe(200);
      expect((await complete(t.apiKey, 'bystander')).status).toBe(200);
      expect((await complete(a.apiKey, 'secret-lora')).status).toBe(200);
    });

    it('a tampered adapter can still be deleted, after which listing works again', async () => {
      // One unreadable metadata object fails the listing as a whole (it is not silently hidden).
      expect((await expectError(await fx.call(t.apiKey, '/v1/adapters'), 500)).code).toBe('integrity_error');
      for (const name of ['meta-victim', 'weights-victim']) expect((await fx.call(t.apiKey, `/v1/adapters/${name}`, { method: 'DELETE' })).status).toBe(200);
      const listed = await expectJson<{ data: AdapterInfo[] }>(await fx.call(t.apiKey, '/v1/adapters'), 200);
      expect(listed.data.map((x) => x.name)).toEqual(['bystander']);
    });

    it('A\'s objects copied under B\'s keys do not decrypt for B', async () => {
      const from = `adapters/${a.tenant.id}/secret-lora/${aLora.version}`;
      const to = `adapters/${b.tenant.id}/stolen/${aLora.version}`;
      await copyObject(fx.dir, from, to);
      await copyObject(fx.dir, `${from}.meta`, `${to}.meta`);
      try {
        const attempts = [() => fx.call(b.apiKey, '/v1/adapters/stolen'), () => download(b.apiKey, 'stolen'), () => complete(b.apiKey, 'stolen')];
        for (const attempt of attempts) {
          const res = await attempt();
          expectNoLeak(await res.clone().text());
          expect((await expectError(res, 500)).code).toBe('integrity_error');
        }
      } finally {
        await removeObject(fx.dir, to);
        await removeObject(fx.dir, `${to}.meta`);
      }
      expect((await expectJson<{ data: AdapterInfo[] }>(await fx.call(b.apiKey, '/v1/adapters'), 200)).data.map((x) => x.name)).toEqual(['b-own']);
    });

    it('A\'s weights copied over one of A\'s own other versions do not open either (the key is bound to name and version)', async () => {
      const other = await upload(a.apiKey, 'other', files.ia3);
      const target = `adapters/${a.tenant.id}/other/${other.version}`;
      const saved = await readFile(objectPath(fx.dir, target));
      await copyObject(fx.dir, `adapters/${a.tenant.id}/secret-lora/${aLora.version}`, target);
      try {
        expect((await expectError(await download(a.apiKey, 'other'), 500)).code).toBe('integrity_error');
      } finally {
        await writeFile(objectPath(fx.dir, target), saved);
      }
      await expectExactDownload(a.apiKey, 'other', files.ia3);
    });

    it('A\'s tenant record copied under a new tenant id does not let A\'s key in as that tenant', async () => {
      const fakeId = 'zzzzzzzzzzzz';
      await copyObject(fx.dir, `tenants/${a.tenant.id}`, `tenants/${fakeId}`);
      try {
        const [, keyId, secret] = keyParts(a.apiKey);
        const res = await fx.call(`sym_${fakeId}_${keyId}_${secret}`, '/v1/adapters');
        // Refused either way: the record fails to decrypt under the new id (5xx), or, if s3rver
        // has not yet made the copied object visible, there is no such tenant (401).
        expect(res.status).toBeGreaterThanOrEqual(400);
        await expectError(res, res.status < 500 ? 'client' : 'server');
      } finally {
        await removeObject(fx.dir, `tenants/${fakeId}`);
      }
    });
  });

  describe('confidentiality and availability of the store', () => {
    it('no stored file holds plaintext: neither tensor bytes, nor config text, nor the names of tenants', async () => {
      expect(uploadedFiles.length).toBeGreaterThanOrEqual(5);
      const stored = await bucketFiles(fx.dir);
      expect(stored.filter((f) => f.path.endsWith('._S3rver_object')).length).toBeGreaterThanOrEqual(10);
      const needles: [string, Buffer][] = [];
      for (const f of uploadedFiles) for (const run of runsOf(f)) needles.push([`run ${run.toString('hex')} (${JSON.stringify(run.toString('latin1'))})`, run]);
      for (const text of ['tenant-a', 'tenant-b', '"peft_type"', '"target_modules"', 'lora_A', '"dtype"', '__metadata__', '"keyHashes"']) needles.push([text, Buffer.from(text)]);
      // The scan would see them: the runs really are in the uploaded files.
      for (const [, run] of needles.slice(0, 3)) expect(Buffer.from(uploadedFiles[0].safetensors).includes(run) || Buffer.from(uploadedFiles[0].configJson).includes(run)).toBe(true);
      for (const [what, needle] of needles) expect(stored.filter((f) => f.bytes.includes(needle)).map((f) => f.path), what).toEqual([]);
      expect(await filesContaining(fx.dir, files.lora.safetensors.subarray(files.lora.safetensors.length - 16))).toEqual([]);
    });

    it('with the store unreachable, the API answers 503 with a JSON error and Retry-After', async () => {
      await fx.stack.s3.stop();
      const attempts = [
        () => fx.call(a.apiKey, '/v1/adapters'),
        () => fx.call(a.apiKey, '/v1/adapters/secret-lora'),
        () => download(a.apiKey, 'secret-lora'),
        () => fx.call(a.apiKey, '/v1/adapters/new-one', { method: 'PUT', body: peftForm(files.ia3.configJson, files.ia3.safetensors) }),
        () => fx.admin('/admin/tenants'),
        () => fx.admin('/admin/tenants', { body: { name: 'during-outage' } }),
      ];
      for (const attempt of attempts) {
        const res = await attempt();
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        const error = await expectError(res, 503);
        expect(error).toMatchObject({ type: 'service_unavailable', code: 'service_unavailable' });
        expect(error.message).toMatch(/store is unavailable/);
      }
    });
  });
});
