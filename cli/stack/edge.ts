/**
 * The edge worker run locally in workerd through Miniflare, from the very bundle
 * `wrangler deploy` would upload (built with `wrangler deploy --dry-run --outdir`).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Miniflare } from 'miniflare';
import type { EnvVars } from '../../functions/env';

const ROOT = resolve(import.meta.dirname, '../..');
const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler');

/** Bundles functions/ exactly as a deployment would; returns the bundle's path. */
export async function buildEdge(outDir: string): Promise<string> {
  await promisify(execFile)(WRANGLER, ['deploy', '--dry-run', '--outdir', outDir], { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' } });
  return join(outDir, 'index.js');
}

export interface LocalEdge {
  url: string;
  miniflare: Miniflare;
  stop(): Promise<void>;
}

async function compatibilityDate(): Promise<string> {
  const toml = await readFile(join(ROOT, 'wrangler.toml'), 'utf8');
  return /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)![1];
}

/** `stateDir` keeps the Durable Objects' storage (hosted jobs), so jobs survive a restart of the edge. */
export async function startEdge(o: { bundle: string; env: EnvVars; port: number; stateDir: string }): Promise<LocalEdge> {
  const miniflare = new Miniflare({
    modules: true,
    scriptPath: o.bundle,
    modulesRoot: dirname(o.bundle),
    compatibilityDate: await compatibilityDate(),
    bindings: { ...o.env },
    durableObjects: { FINE_TUNING_JOBS: 'FineTuningJob', TENANT_RATE_LIMITS: 'TenantRateLimit' },
    durableObjectsPersist: o.stateDir,
    host: '127.0.0.1',
    port: o.port,
  });
  const url = (await miniflare.ready).toString().replace(/\/$/, '');
  return { url, miniflare, stop: () => miniflare.dispose() };
}
