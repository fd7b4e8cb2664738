/**
 * Tenants' adapters in the sealed store. Each upload is a new version (nothing is overwritten):
 *
 *   adapters/<tenant>/<name>/<version>        sealed: u32 config length | adapter_config.json | adapter_model.safetensors
 *   adapters/<tenant>/<name>/<version>.meta   sealed: AdapterVersion (JSON)
 *
 * The meta is written last and deleted first, so a version exists exactly when its meta does:
 * an interrupted upload or delete never shows a half-stored adapter. Every key is built from the
 * authenticated tenant's id and a validated name, and sealed under that tenant's key with the
 * key as associated data. Loaded adapters are cached per isolate, bounded, with a TTL.
 */
import { AdapterNameSchema, type AdapterInfo, type AdapterVersion } from '../../shared/api/adapters';
import type { PeftAdapter } from '../../shared/adapters/adapter';
import type { BaseModelClient } from '../base';
import { randomId, sha256, toHex } from '../crypto';
import { ApiError, notFound } from '../errors';
import type { SealedStore } from '../store';
import { BoundedCache } from './cache';
import { parseConfigJson, validateAdapter } from './validate';

export interface PeftFiles {
  configJson: Uint8Array;
  safetensors: Uint8Array;
}

const prefix = (tenant: string, name?: string) => (name === undefined ? `adapters/${tenant}/` : `adapters/${tenant}/${name}/`);
/** Sorts by time as text: zero-padded milliseconds, then a random suffix against same-millisecond uploads. */
const newVersion = () => `v${Date.now().toString().padStart(14, '0')}-${randomId(4)}`;

function pack(files: PeftFiles): Uint8Array {
  const out = new Uint8Array(4 + files.configJson.length + files.safetensors.length);
  new DataView(out.buffer).setUint32(0, files.configJson.length, true);
  out.set(files.configJson, 4);
  out.set(files.safetensors, 4 + files.configJson.length);
  return out;
}

function unpack(bytes: Uint8Array): PeftFiles {
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  return { configJson: bytes.subarray(4, 4 + n), safetensors: bytes.subarray(4 + n) };
}

export class AdapterStore {
  private readonly loaded = new BoundedCache<PeftAdapter>(32, 5 * 60_000);

  constructor(
    private readonly store: SealedStore,
    private readonly base: BaseModelClient,
    private readonly maxRank: number,
  ) {}

  /** Version ids per adapter name, oldest first (only versions whose meta exists). */
  private async versions(tenant: string, name?: string): Promise<Map<string, string[]>> {
    const byName = new Map<string, string[]>();
    for (const key of await this.store.objects.list(prefix(tenant, name))) {
      const m = /^adapters\/[^/]+\/([^/]+)\/([^/]+)\.meta$/.exec(key);
      if (!m) continue;
      byName.set(m[1], [...(byName.get(m[1]) ?? []), m[2]]);
    }
    for (const v of byName.values()) v.sort();
    return byName;
  }

  private async meta(tenant: string, name: string, version: string): Promise<AdapterVersion> {
    const meta = (await this.store.getJson(tenant, `${prefix(tenant, name)}${version}.meta`)) as AdapterVersion | null;
    if (!meta) throw notFound(`adapter "${name}" has no version "${version}"`);
    return meta;
  }

  private async latest(tenant: string, name: string, version?: string): Promise<{ meta: AdapterVersion; versions: string[] }> {
    const versions = (await this.versions(tenant, name)).get(name);
    if (!versions) throw notFound(`no adapter named "${name}"`);
    // Only a version listed under this adapter's own prefix may become part of a key: a
    // caller's "../other/v…" would otherwise name another object.
    if (version !== undefined && !versions.includes(version)) throw notFound(`adapter "${name}" has no version "${version}"`);
    return { meta: await this.meta(tenant, name, version ?? versions[versions.length - 1]), versions };
  }

  async put(tenant: string, name: string, files: PeftFiles, maxAdapters: number): Promise<AdapterInfo> {
    const all = await this.versions(tenant);
    const isNew = !all.has(name);
    if (isNew && all.size >= maxAdapters) {
      throw new ApiError(403, `adapter quota reached: this tenant may hold ${maxAdapters} adapters; delete one first`, 'quota_exceeded');
    }
    const valid = await validateAdapter(parseConfigJson(files.configJson), files.safetensors, this.base, this.maxRank);
    const version = newVersion();
    const packed = pack(files);
    const meta: AdapterVersion = {
      name,
      version,
      type: valid.adapter.type,
      rank: valid.rank,
      targetModules: [...new Set(valid.targets.map((t) => t.module))],
      bytes: packed.length - 4,
      sha256: toHex(await sha256(files.safetensors)),
      createdAt: new Date().toISOString(),
    };
    const key = `${prefix(tenant, name)}${version}`;
    await this.store.put(tenant, key, packed);
    await this.store.putJson(tenant, `${key}.meta`, meta);
    if (isNew && (await this.versions(tenant)).size > maxAdapters) {
      // Uploads of other new names passed the check above at the same time (isolates share no
      // memory, the store has no transaction). Listing is consistent after a write, so of two
      // such uploads at least the later-listing one sees both and takes itself back (meta first,
      // as delete does): the count may exceed the quota for that moment, never after.
      await this.store.objects.delete(`${key}.meta`);
      await this.store.objects.delete(key);
      throw new ApiError(409, `adapter quota of ${maxAdapters} was reached by a concurrent upload; delete an adapter, or retry`, 'quota_exceeded');
    }
    this.loaded.set(`${tenant}/${name}/${version}`, valid.adapter);
    return { ...meta, versions: [...(all.get(name) ?? []), version] };
  }

  async list(tenant: string): Promise<AdapterInfo[]> {
    const all = await this.versions(tenant);
    return Promise.all([...all].map(async ([name, versions]) => ({ ...(await this.meta(tenant, name, versions[versions.length - 1])), versions })));
  }

  async info(tenant: string, name: string): Promise<AdapterInfo> {
    const { meta, versions } = await this.latest(tenant, name);
    return { ...meta, versions };
  }

  async files(tenant: string, name: string, version?: string): Promise<PeftFiles & { meta: AdapterVersion }> {
    const { meta } = await this.latest(tenant, name, version);
    return { ...(await this.weights(tenant, meta)), meta };
  }

  /** The stored files of a version already resolved (its meta read). */
  private async weights(tenant: string, meta: AdapterVersion): Promise<PeftFiles> {
    const packed = await this.store.get(tenant, `${prefix(tenant, meta.name)}${meta.version}`);
    if (!packed) throw notFound(`adapter "${meta.name}" version "${meta.version}" is missing its weights`);
    return unpack(packed);
  }

  /** The latest version, validated and bound to the base model, from the isolate's cache when there. */
  async load(tenant: string, name: string): Promise<PeftAdapter> {
    // `name` is an inference request's `model`, not checked by a route: only a valid name may become part of a key.
    if (!AdapterNameSchema.safeParse(name).success) throw notFound(`no adapter named "${name}"`);
    const { meta } = await this.latest(tenant, name);
    const key = `${tenant}/${name}/${meta.version}`;
    const hit = this.loaded.get(key);
    if (hit) return hit;
    const files = await this.weights(tenant, meta);
    const { adapter } = await validateAdapter(parseConfigJson(files.configJson), files.safetensors, this.base, Number.MAX_SAFE_INTEGER);
    this.loaded.set(key, adapter);
    return adapter;
  }

  async delete(tenant: string, name: string): Promise<void> {
    const versions = (await this.versions(tenant, name)).get(name);
    if (!versions) throw notFound(`no adapter named "${name}"`);
    for (const v of versions) await this.store.objects.delete(`${prefix(tenant, name)}${v}.meta`);
    for (const v of versions) await this.store.objects.delete(`${prefix(tenant, name)}${v}`);
    this.loaded.deleteWhere((key) => key.startsWith(`${tenant}/${name}/`));
  }
}
