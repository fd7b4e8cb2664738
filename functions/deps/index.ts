/**
 * What every request needs, built once per isolate from the bindings: config, the sealed
 * store, the tenant directory, the adapter store and the base-model client.
 */
import { createMiddleware } from 'hono/factory';
import type { Tenant } from '../../shared/api/admin';
import { AdapterStore } from '../adapters/store';
import { BaseModelClient } from '../base';
import { Keyring } from '../crypto';
import { FileStore } from '../files/store';
import { parseConfig, type Config, type Env } from '../env';
import { ObjectStore, SealedStore } from '../store';
import { TenantDirectory } from '../tenants/directory';

export interface Deps {
  config: Config;
  store: SealedStore;
  tenants: TenantDirectory;
  adapters: AdapterStore;
  files: FileStore;
  base: BaseModelClient;
}

export interface EdgeEnv {
  Bindings: Env;
  Variables: { deps: Deps; tenant: Tenant };
}

const built = new WeakMap<object, Deps>();

export function buildDeps(env: Env): Deps {
  let deps = built.get(env);
  if (!deps) {
    const config = parseConfig(env);
    const store = new SealedStore(new ObjectStore(config), new Keyring(config.MASTER_KEY));
    const base = new BaseModelClient(config.BASE_MODEL_URLS, config.SESSION_SECRET);
    deps = {
      config,
      store,
      tenants: new TenantDirectory(store, { maxAdapters: config.MAX_ADAPTERS, maxAdapterBytes: config.MAX_ADAPTER_BYTES, requestsPerMinute: config.REQUESTS_PER_MINUTE }),
      adapters: new AdapterStore(store, base, config.MAX_ADAPTER_RANK),
      files: new FileStore(store),
      base,
    };
    built.set(env, deps);
  }
  return deps;
}

export const withDeps = createMiddleware<EdgeEnv>(async (c, next) => {
  c.set('deps', buildDeps(c.env));
  await next();
});
