/**
 * The whole product on one machine: s3rver (the adapter store), a real `symbiosis serve`
 * process with the model, and the edge worker in workerd. `npm start` and the end-to-end tests
 * both run exactly this. Secrets are generated once per data folder and kept beside the data,
 * so what was stored stays readable across restarts.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Env } from '../../functions/env';
import { buildEdge, startEdge, type LocalEdge } from './edge';
import { startS3, type LocalS3 } from './s3';
import { spawnServe, type ServeProcess } from './serve-process';

export interface StackSecrets {
  MASTER_KEY: string;
  ADMIN_TOKEN: string;
  SESSION_SECRET: string;
}

export interface LocalStack {
  edgeUrl: string;
  serverUrl: string;
  s3Url: string;
  env: Env;
  s3: LocalS3;
  server: ServeProcess;
  edge: LocalEdge;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Holds s3/ (the bucket's files), secrets.json and edge-dist/ (the worker bundle). */
  dir: string;
  modelDir: string;
  ports?: { edge: number; server: number; s3: number };
  /** Overrides of the edge's vars (quotas, limits). */
  vars?: Partial<Env>;
}

async function loadSecrets(dir: string): Promise<StackSecrets> {
  const file = join(dir, 'secrets.json');
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as StackSecrets;
  const secrets: StackSecrets = {
    MASTER_KEY: randomBytes(32).toString('base64'),
    ADMIN_TOKEN: randomBytes(32).toString('base64url'),
    SESSION_SECRET: randomBytes(32).toString('base64url'),
  };
  await writeFile(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

export async function startLocalStack(o: StackOptions): Promise<LocalStack> {
  await mkdir(join(o.dir, 's3'), { recursive: true });
  const secrets = await loadSecrets(o.dir);
  const ports = o.ports ?? { edge: 0, server: 0, s3: 0 };
  const started: { stop(): Promise<void> }[] = [];
  const stop = async () => {
    for (const s of started.reverse()) await s.stop();
  };
  try {
    const [s3, server, bundle] = await Promise.all([
      startS3({ directory: join(o.dir, 's3'), bucket: 'symbiosis', port: ports.s3 }),
      spawnServe({ modelDir: o.modelDir, secret: secrets.SESSION_SECRET, port: ports.server }),
      buildEdge(join(o.dir, 'edge-dist')),
    ]);
    started.push(s3, server);
    const env: Env = {
      BASE_MODEL_URLS: server.url.replace(/^http/, 'ws'),
      S3_ENDPOINT: s3.url,
      S3_BUCKET: s3.bucket,
      S3_REGION: 'us-east-1',
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      ...secrets,
      ...o.vars,
    };
    const edge = await startEdge({ bundle, env, port: ports.edge });
    started.push(edge);
    return { edgeUrl: edge.url, serverUrl: server.url, s3Url: s3.url, env, s3, server, edge, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
