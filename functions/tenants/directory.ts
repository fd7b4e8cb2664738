/**
 * Tenants and their API keys, kept in the store (sealed under the system scope). An API key is
 * `sym_<tenant id>_<key id>_<secret>` with a 256-bit random secret; only the secret's SHA-256
 * is stored, and it is compared in constant time. Records are cached in the isolate for a few
 * seconds; changes made through this isolate apply at once, elsewhere within CACHE_MS.
 */
import { TenantSchema, type CreateTenant, type IssuedKey, type Quotas, type Tenant } from '../../shared/api/admin';
import { randomId, randomToken, sha256, timingSafeEqual, toHex } from '../crypto';
import { ApiError, notFound } from '../errors';
import type { SealedStore } from '../store';

const SYSTEM = '_system';
const CACHE_MS = 10_000;
const ID_PATTERN = /^[a-z0-9]{12}$/;
const KEY_PATTERN = /^sym_([a-z0-9]{12})_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$/;

/** What the store keeps: the public record plus each key's hash. */
interface TenantRecord extends Tenant {
  keyHashes: Record<string, string>;
}

const objectKey = (id: string) => `tenants/${id}`;
const publicView = ({ keyHashes: _, ...tenant }: TenantRecord): Tenant => TenantSchema.parse(tenant);

export class TenantDirectory {
  private readonly cache = new Map<string, { record: TenantRecord | null; at: number }>();

  constructor(
    private readonly store: SealedStore,
    private readonly defaults: Quotas,
  ) {}

  private async load(id: string): Promise<TenantRecord | null> {
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.record;
    const record = (await this.store.getJson(SYSTEM, objectKey(id))) as TenantRecord | null;
    this.cache.set(id, { record, at: Date.now() });
    return record;
  }

  private async save(record: TenantRecord): Promise<void> {
    await this.store.putJson(SYSTEM, objectKey(record.id), record);
    this.cache.set(record.id, { record, at: Date.now() });
  }

  private async require(id: string): Promise<TenantRecord> {
    const record = ID_PATTERN.test(id) ? await this.load(id) : null;
    if (!record) throw notFound(`no tenant "${id}"`);
    return record;
  }

  private async newKey(record: TenantRecord): Promise<{ keyId: string; apiKey: string }> {
    const keyId = randomId(8);
    const secret = randomToken(32);
    record.keys.push({ id: keyId, createdAt: new Date().toISOString() });
    record.keyHashes[keyId] = toHex(await sha256(new TextEncoder().encode(secret)));
    return { keyId, apiKey: `sym_${record.id}_${keyId}_${secret}` };
  }

  async create(body: CreateTenant): Promise<IssuedKey> {
    const record: TenantRecord = {
      id: randomId(12),
      name: body.name,
      createdAt: new Date().toISOString(),
      disabled: false,
      quotas: { ...this.defaults, ...body.quotas },
      keys: [],
      keyHashes: {},
    };
    const key = await this.newKey(record);
    await this.save(record);
    return { tenant: publicView(record), ...key };
  }

  async get(id: string): Promise<Tenant> {
    return publicView(await this.require(id));
  }

  async list(): Promise<Tenant[]> {
    const ids = (await this.store.objects.list('tenants/')).map((k) => k.slice('tenants/'.length)).filter((id) => ID_PATTERN.test(id));
    const records = await Promise.all(ids.map((id) => this.require(id)));
    return records.map(publicView).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async setDisabled(id: string, disabled: boolean): Promise<Tenant> {
    const record = { ...(await this.require(id)), disabled };
    await this.save(record);
    return publicView(record);
  }

  async issueKey(id: string): Promise<IssuedKey> {
    const record = structuredClone(await this.require(id));
    const key = await this.newKey(record);
    await this.save(record);
    return { tenant: publicView(record), ...key };
  }

  async revokeKey(id: string, keyId: string): Promise<Tenant> {
    const record = structuredClone(await this.require(id));
    const key = record.keys.find((k) => k.id === keyId);
    if (!key) throw notFound(`tenant "${id}" has no key "${keyId}"`);
    key.revokedAt ??= new Date().toISOString();
    delete record.keyHashes[keyId];
    await this.save(record);
    return publicView(record);
  }

  /** The tenant an API key belongs to; 401 for any unknown, malformed or revoked key, 403 if disabled. */
  async authenticate(apiKey: string): Promise<Tenant> {
    const refused = new ApiError(401, 'invalid API key', 'invalid_api_key');
    const m = KEY_PATTERN.exec(apiKey);
    if (!m) throw refused;
    const [, id, keyId, secret] = m;
    const record = await this.load(id);
    const stored = record?.keyHashes[keyId];
    const presented = await sha256(new TextEncoder().encode(secret));
    // Compare even when there is nothing to compare with, so timing does not tell which part was wrong.
    const expected = stored ? Uint8Array.from(stored.match(/../g)!, (h) => parseInt(h, 16)) : new Uint8Array(32);
    if (!timingSafeEqual(presented, expected) || !record || !stored) throw refused;
    if (record.disabled) throw new ApiError(403, `tenant "${id}" is disabled`, 'tenant_disabled');
    return publicView(record);
  }
}
