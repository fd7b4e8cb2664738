/**
 * A tenant's adapters through the edge, end to end (workerd → s3rver, validated against the
 * served stories260K): upload of every PEFT type, listing and metadata, versions, downloads of
 * the exact bytes, deletion; and bad uploads, each refused with a 4xx naming the problem and
 * nothing stored, including a rank above the deployment's MAX_ADAPTER_RANK.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdapterInfo } from '../../shared/api/adapters';
import { createLora, writePeftAdapter, type PeftAdapter } from '../../shared/adapters';
import type { Model } from '../../shared/model/types';
import { testAdapters } from '../../gpu-server/testing/fixtures';
import { expectError, expectJson, storedKeys } from './bucket';
import { loadTestModel, peftForm, startEdgeFixture, type EdgeFixture } from './stack';

type Files = { configJson: string; safetensors: Uint8Array };

const EXPECTED = {
  lora: { type: 'LORA', rank: 4, targetModules: ['down_proj', 'q_proj', 'v_proj'] },
  rslora: { type: 'LORA', rank: 3, targetModules: ['gate_proj', 'o_proj', 'up_proj'] },
  dora: { type: 'DORA', rank: 2, targetModules: ['down_proj', 'k_proj', 'q_proj'] },
  ia3: { type: 'IA3', rank: null, targetModules: ['down_proj', 'k_proj', 'v_proj'] },
  prompt: { type: 'PROMPT_TUNING', rank: null, targetModules: [] },
} as const;
type Kind = keyof typeof EXPECTED;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A form with the given parts, each a file unless given as `{ text }`. */
function form(parts: [string, string | Uint8Array | { text: string }][]): FormData {
  const f = new FormData();
  for (const [name, value] of parts) {
    if (typeof value === 'object' && 'text' in value) f.append(name, value.text);
    else f.append(name, new Blob([value as BlobPart]), name);
  }
  return f;
}

describe('adapters through the edge', () => {
  let fx: EdgeFixture;
  /** A second deployment, with MAX_ADAPTER_RANK = 2. */
  let limited: EdgeFixture;
  let model: Model;
  let files: Record<Kind, Files>;

  beforeAll(async () => {
    const [fixture, rankLimited, dir] = await Promise.all([startEdgeFixture(), startEdgeFixture({ MAX_ADAPTER_RANK: '2' }), loadTestModel()]);
    fx = fixture;
    limited = rankLimited;
    model = dir.model;
    const adapters = testAdapters(model);
    files = Object.fromEntries(Object.keys(EXPECTED).map((k) => [k, writePeftAdapter(adapters[k])])) as Record<Kind, Files>;
  }, 60_000);

  afterAll(async () => {
    await Promise.all([fx?.stop(), limited?.stop()]);
  }, 60_000);

  const upload = (apiKey: string, name: string, f: Files | FormData) =>
    fx.call(apiKey, `/v1/adapters/${name}`, { method: 'PUT', body: f instanceof FormData ? f : peftForm(f.configJson, f.safetensors) });
  const list = async (apiKey: string) => (await expectJson<{ object: string; data: AdapterInfo[] }>(await fx.call(apiKey, '/v1/adapters'), 200)).data;
  async function download(apiKey: string, name: string, version?: string) {
    const res = await fx.call(apiKey, `/v1/adapters/${name}/download${version ? `?version=${encodeURIComponent(version)}` : ''}`);
    expect(res.status, res.status === 200 ? '' : await res.clone().text()).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^multipart\/form-data; boundary=/);
    const form = await res.formData();
    expect([...new Set(form.keys())].sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const config = form.get('adapter_config.json') as File;
    const weights = form.get('adapter_model.safetensors') as File;
    expect(config.name).toBe('adapter_config.json');
    expect(weights.name).toBe('adapter_model.safetensors');
    return { version: res.headers.get('x-adapter-version'), configJson: await config.text(), safetensors: new Uint8Array(await weights.arrayBuffer()) };
  }

  describe('upload, list, download, versions, delete', () => {
    let apiKey: string;
    let tenantId: string;
    const uploaded = new Map<Kind, AdapterInfo>();

    beforeAll(async () => {
      ({ apiKey, tenant: { id: tenantId } } = await fx.createTenant('adapters'));
    });

    it.each(Object.keys(EXPECTED) as Kind[])('PUT %s → 201 with its type, rank and target modules', async (kind) => {
      const info = await expectJson<AdapterInfo>(await upload(apiKey, kind, files[kind]), 201);
      const { configJson, safetensors } = files[kind];
      expect({ ...info, targetModules: [...info.targetModules].sort() }).toEqual({
        name: kind,
        version: expect.stringMatching(/^v\d{14}-[a-z0-9]{4}$/),
        ...EXPECTED[kind],
        bytes: Buffer.byteLength(configJson) + safetensors.length,
        sha256: sha256(safetensors),
        createdAt: expect.any(String),
        versions: [info.version],
      });
      uploaded.set(kind, info);
    });

    it('GET /v1/adapters lists every adapter with its metadata; GET /v1/adapters/{name} gives one', async () => {
      expect(uploaded.size).toBe(5);
      const listed = await list(apiKey);
      expect(listed.map((a) => a.name).sort()).toEqual([...uploaded.keys()].sort());
      for (const a of listed) expect(a).toEqual(uploaded.get(a.name as Kind));
      for (const [kind, info] of uploaded) expect(await expectJson(await fx.call(apiKey, `/v1/adapters/${kind}`), 200)).toEqual(info);
      // The adapters are models for inference too.
      const models = await expectJson<{ data: { id: string }[] }>(await fx.call(apiKey, '/v1/models'), 200);
      expect(models.data.map((m) => m.id).sort()).toEqual(['dora', 'ia3', 'lora', 'prompt', 'rslora', 'stories260K']);
    });

    it.each(Object.keys(EXPECTED) as Kind[])('GET /v1/adapters/%s/download returns the exact bytes uploaded', async (kind) => {
      const got = await download(apiKey, kind);
      expect(got.version).toBe(uploaded.get(kind)!.version);
      expect(got.configJson).toBe(files[kind].configJson);
      expect(Buffer.from(got.safetensors).equals(Buffer.from(files[kind].safetensors))).toBe(true);
    });

    it('an unknown adapter → 404 for metadata, download and delete', async () => {
      for (const [method, path] of [
        ['GET', '/v1/adapters/missing'],
        ['GET', '/v1/adapters/missing/download'],
        ['DELETE', '/v1/adapters/missing'],
      ]) {
        expect((await expectError(await fx.call(apiKey, path, { method }), 404)).code, `${method} ${path}`).toBe('not_found');
      }
    });

    it('re-uploading makes a new version; the old one stays downloadable with ?version=', async () => {
      const first = await expectJson<AdapterInfo>(await upload(apiKey, 'versioned', files.lora), 201);
      const second = await expectJson<AdapterInfo>(await upload(apiKey, 'versioned', files.ia3), 201);
      expect(second.version).not.toBe(first.version);
      expect(second.versions).toEqual([first.version, second.version]);
      expect(second).toMatchObject({ type: 'IA3', rank: null });

      const info = await expectJson<AdapterInfo>(await fx.call(apiKey, '/v1/adapters/versioned'), 200);
      expect(info).toEqual(second);
      expect((await list(apiKey)).filter((a) => a.name === 'versioned')).toEqual([second]);

      const latest = await download(apiKey, 'versioned');
      expect(latest.version).toBe(second.version);
      expect(latest.configJson).toBe(files.ia3.configJson);
      const old = await download(apiKey, 'versioned', first.version);
      expect(old.version).toBe(first.version);
      expect(old.configJson).toBe(files.lora.configJson);
      expect(Buffer.from(old.safetensors).equals(Buffer.from(files.lora.safetensors))).toBe(true);

      // Versions are only ever ones this adapter has.
      for (const version of ['v00000000000000-zzzz', '', uploaded.get('lora')!.version, `../lora/${uploaded.get('lora')!.version}`, `${first.version}/../${second.version}`]) {
        const res = await fx.call(apiKey, `/v1/adapters/versioned/download?version=${encodeURIComponent(version)}`);
        expect((await expectError(res, 404)).code, version).toBe('not_found');
      }
    });

    it('inference uses the latest version', async () => {
      // Version 1 (a LoRA) and version 2 (an IA3) of "versioned" are the lora and ia3 adapters.
      const complete = async (model: string) => {
        const res = await fx.call(apiKey, '/v1/completions', { body: { model, prompt: 'Once upon a time', max_tokens: 6, temperature: 0 } });
        return (await expectJson<{ choices: { text: string }[] }>(res, 200)).choices[0].text;
      };
      const [versioned, ia3, lora] = await Promise.all([complete('versioned'), complete('ia3'), complete('lora')]);
      expect(ia3).not.toBe(lora);
      expect(versioned).toBe(ia3);
    });

    it('DELETE removes every version: metadata, downloads and stored objects', async () => {
      const first = await expectJson<AdapterInfo>(await upload(apiKey, 'doomed', files.dora), 201);
      const second = await expectJson<AdapterInfo>(await upload(apiKey, 'doomed', files.prompt), 201);
      expect(await storedKeys(fx.dir, `adapters/${tenantId}/doomed/`)).toEqual([first.version, `${first.version}.meta`, second.version, `${second.version}.meta`].map((v) => `adapters/${tenantId}/doomed/${v}`).sort());

      expect(await expectJson(await fx.call(apiKey, '/v1/adapters/doomed', { method: 'DELETE' }), 200)).toEqual({ object: 'adapter', name: 'doomed', deleted: true });
      expect(await storedKeys(fx.dir, `adapters/${tenantId}/doomed/`)).toEqual([]);
      expect((await list(apiKey)).map((a) => a.name)).not.toContain('doomed');
      await expectError(await fx.call(apiKey, '/v1/adapters/doomed'), 404);
      for (const v of [first.version, second.version]) await expectError(await fx.call(apiKey, `/v1/adapters/doomed/download?version=${v}`), 404);
      const completion = await fx.call(apiKey, '/v1/completions', { body: { model: 'doomed', prompt: 'Hi', max_tokens: 2 } });
      expect((await expectError(completion, 404)).message).toMatch(/"doomed" does not exist/);
      await expectError(await fx.call(apiKey, '/v1/adapters/doomed', { method: 'DELETE' }), 404);
      // The other adapters are untouched.
      expect((await list(apiKey)).map((a) => a.name).sort()).toEqual(['dora', 'ia3', 'lora', 'prompt', 'rslora', 'versioned']);
    });
  });

  describe('bad uploads: a 4xx naming the problem, and nothing stored', () => {
    let apiKey: string;
    let tenantId: string;

    beforeAll(async () => {
      ({ apiKey, tenant: { id: tenantId } } = await fx.createTenant('bad-uploads'));
    });

    async function expectRefused(res: Response, status: number, code: string, message: RegExp, param?: string) {
      const error = await expectError(res, status);
      expect(error.code).toBe(code);
      expect(error.message).toMatch(message);
      if (param !== undefined) expect(error.param).toBe(param);
      expect(await list(apiKey)).toEqual([]);
      expect(await storedKeys(fx.dir, `adapters/${tenantId}/`)).toEqual([]);
    }

    /** LoRA files whose tensors disagree with their config: r = 2 tensors under an r = 4 config. */
    function wrongShape(): Files {
      const targets = { modelConfig: model.config, alpha: 8, targetModules: ['q_proj', 'v_proj'], seed: 1 };
      const config = writePeftAdapter(createLora({ ...targets, r: 4 })).configJson;
      return { configJson: config, safetensors: writePeftAdapter(createLora({ ...targets, r: 2 })).safetensors };
    }

    function withNaN(): Files {
      const adapter: PeftAdapter = createLora({ modelConfig: model.config, r: 2, alpha: 4, targetModules: ['q_proj'], seed: 5 });
      adapter.params.values().next().value![3] = NaN;
      return writePeftAdapter(adapter);
    }

    it('corrupt safetensors → 400', async () => {
      const garbage = new Uint8Array(files.lora.safetensors.length).map((_, i) => (i * 131 + 7) & 0xff);
      await expectRefused(await upload(apiKey, 'corrupt', { configJson: files.lora.configJson, safetensors: garbage }), 400, 'invalid_adapter', /adapter_model\.safetensors/);
    });

    it('truncated safetensors → 400', async () => {
      const truncated = files.lora.safetensors.subarray(0, files.lora.safetensors.length - 100);
      await expectRefused(await upload(apiKey, 'truncated', { configJson: files.lora.configJson, safetensors: truncated }), 400, 'invalid_adapter', /adapter_model\.safetensors/);
    });

    it('a tensor of the wrong shape → 400 naming the tensor and both shapes', async () => {
      await expectRefused(await upload(apiKey, 'wrong-shape', wrongShape()), 400, 'invalid_adapter', /q_proj\.lora_A\.weight.*expected shape \[4, \d+\], got \[2, \d+\]/);
    });

    it('non-finite weights → 400', async () => {
      await expectRefused(await upload(apiKey, 'nan', withNaN()), 400, 'invalid_adapter', /non-finite/);
    });

    it('tensors of another adapter type → 400 naming the unexpected tensors', async () => {
      await expectRefused(await upload(apiKey, 'mixed', { configJson: files.lora.configJson, safetensors: files.ia3.safetensors }), 400, 'invalid_adapter', /unexpected tensor .*ia3_l/);
    });

    it('a missing adapter_config.json part → 400 naming it', async () => {
      await expectRefused(await upload(apiKey, 'no-config', form([['adapter_model.safetensors', files.lora.safetensors]])), 400, 'missing_file', /"adapter_config\.json"/, 'adapter_config.json');
    });

    it('a missing adapter_model.safetensors part → 400 naming it', async () => {
      await expectRefused(await upload(apiKey, 'no-weights', form([['adapter_config.json', files.lora.configJson]])), 400, 'missing_file', /"adapter_model\.safetensors"/, 'adapter_model.safetensors');
    });

    it('an extra unknown part → 400 naming it', async () => {
      const f = form([
        ['adapter_config.json', files.lora.configJson],
        ['adapter_model.safetensors', files.lora.safetensors],
        ['README.md', 'hello'],
      ]);
      await expectRefused(await upload(apiKey, 'extra-part', f), 400, 'unsupported_field', /"README\.md"/, 'README.md');
    });

    it('a part given twice → 400 naming it', async () => {
      const f = form([
        ['adapter_config.json', files.lora.configJson],
        ['adapter_config.json', files.ia3.configJson],
        ['adapter_model.safetensors', files.lora.safetensors],
      ]);
      await expectRefused(await upload(apiKey, 'twice', f), 400, 'missing_file', /exactly one file part "adapter_config\.json"/, 'adapter_config.json');
    });

    it('the config as a text field instead of a file → 400', async () => {
      const f = form([
        ['adapter_config.json', { text: files.lora.configJson }],
        ['adapter_model.safetensors', files.lora.safetensors],
      ]);
      await expectRefused(await upload(apiKey, 'text-field', f), 400, 'missing_file', /"adapter_config\.json"/);
    });

    it('adapter_config.json that is not JSON → 400', async () => {
      await expectRefused(await upload(apiKey, 'not-json', { configJson: '{"peft_type": "LORA", r: 4', safetensors: files.lora.safetensors }), 400, 'invalid_adapter', /adapter_config\.json is not valid JSON/);
    });

    it('adapter_config.json that is JSON but not a supported PEFT config → 400', async () => {
      await expectRefused(await upload(apiKey, 'not-peft', { configJson: '{"peft_type": "BOGUS"}', safetensors: files.lora.safetensors }), 400, 'invalid_adapter', /peft_type/);
    });

    it('target modules the model does not have → 400 naming them', async () => {
      const config = { ...JSON.parse(files.lora.configJson), target_modules: ['q_proj', 'not_a_module'] };
      await expectRefused(await upload(apiKey, 'bad-targets', { configJson: JSON.stringify(config), safetensors: files.lora.safetensors }), 400, 'invalid_adapter', /not_a_module/);
    });

    it('a body that is not multipart → 400', async () => {
      const res = await fx.call(apiKey, '/v1/adapters/json-body', { method: 'PUT', body: { adapter_config: JSON.parse(files.lora.configJson) } });
      await expectRefused(res, 400, 'invalid_upload', /multipart\/form-data/);
    });

    it('a multipart body that does not parse → 400', async () => {
      const res = await fetch(`${fx.url}/v1/adapters/broken`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'multipart/form-data; boundary=XYZ' },
        body: '--XYZ\r\nContent-Disposition: form-data; name="adapter_config.json"; filename="a"\r\n\r\n{}',
      });
      await expectRefused(res, 400, 'invalid_upload', /multipart/);
    });

    it.each([
      ['with a space', encodeURIComponent('my adapter')],
      ['starting with a dot', '.hidden'],
      ['starting with a dash', '-flag'],
      ['of 65 characters', 'a'.repeat(65)],
      ['with a non-ASCII letter', encodeURIComponent('adaptér')],
      ['with an encoded slash', 'a%2Fb'],
      ['with an encoded backslash', 'a%5Cb'],
      ['with a colon', 'a:b'],
      ['with a NUL', 'a%00b'],
    ])('an adapter name %s → 400 invalid_name', async (_, name) => {
      await expectRefused(await upload(apiKey, name, files.lora), 400, 'invalid_name', /invalid adapter name/, 'name');
    });

    it('the base model\'s own name → 400 invalid_name', async () => {
      await expectRefused(await upload(apiKey, 'stories260K', files.lora), 400, 'invalid_name', /"stories260K" is the base model's name/, 'name');
    });

    it('after all that, a good upload still works (the tenant was not broken by the refusals)', async () => {
      expect((await upload(apiKey, 'good', files.lora)).status).toBe(201);
      expect((await list(apiKey)).map((a) => a.name)).toEqual(['good']);
    });
  });

  describe('with MAX_ADAPTER_RANK = 2', () => {
    let apiKey: string;
    let tenantId: string;

    beforeAll(async () => {
      ({ apiKey, tenant: { id: tenantId } } = await limited.createTenant('rank-limited'));
    });

    const put = (name: string, f: Files) => limited.call(apiKey, `/v1/adapters/${name}`, { method: 'PUT', body: peftForm(f.configJson, f.safetensors) });

    it.each([
      ['lora', 4],
      ['rslora', 3], // r = 2, but rank_pattern gives o_proj rank 3
    ] as const)('%s (highest rank %d) → 400 naming the rank and the limit, nothing stored', async (kind, rank) => {
      const error = await expectError(await put(kind, files[kind]), 400);
      expect(error.code).toBe('invalid_adapter');
      expect(error.message).toMatch(new RegExp(`rank ${rank} exceeds this deployment's limit of 2`));
      expect(await storedKeys(limited.dir, `adapters/${tenantId}/`)).toEqual([]);
    });

    it.each(['dora', 'ia3', 'prompt'] as const)('%s (rank ≤ 2 or none) is accepted', async (kind) => {
      expect((await expectJson<AdapterInfo>(await put(kind, files[kind]), 201)).rank).toBe(EXPECTED[kind].rank);
    });
  });
});
