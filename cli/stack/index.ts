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
import type { EnvVars } from '../../functions/env';
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
  env: EnvVars;
  s3: LocalS3;
  server: ServeProcess;
  edge: LocalEdge;
  stop(): Promise<void>;
  /** Stops the edge and starts it again on the same port and state (a lost process, for tests). */
  restartEdge(): Promise<void>;
}

export interface StackOptions {
  /** Holds s3/ (the bucket's files), secrets.json and edge-dist/ (the worker bundle). */
  dir: string;
  modelDir: string;
  ports?: { edge: number; server: number; s3: number };
  /** Overrides of the edge's vars (quotas, limits). */
  vars?: Partial<EnvVars>;
}

export function newSecrets(): StackSecrets {
  return { MASTER_KEY: randomBytes(32).toString('base64'), ADMIN_TOKEN: randomBytes(32).toString('base64url'), SESSION_SECRET: randomBytes(32).toString('base64url') };
}

async function loadSecrets(dir: string): Promise<StackSecrets> {
  const file = join(dir, 'secrets.json');
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as StackSecrets;
  const secrets = newSecrets();
  await writeFile(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

/** The edge's vars and secrets for a local server and s3rver (which ignores credentials). */
export function localEdgeVars(serverUrl: string, s3: Pick<LocalS3, 'url' | 'bucket'>, secrets: StackSecrets, vars: Partial<EnvVars> = {}): EnvVars {
  return {
    BASE_MODEL_URLS: serverUrl.replace(/^http/, 'ws'),
    S3_ENDPOINT: s3.url,
    S3_BUCKET: s3.bucket,
    S3_REGION: 'us-east-1',
    S3_ACCESS_KEY_ID: 'S3RVER',
    S3_SECRET_ACCESS_KEY: 'S3RVER',
    ...secrets,
    ...vars,
  };
}

export async function startLocalStack(o: StackOptions): Promise<LocalStack> {
  await mkdir(join(o.dir, 's3'), { recursive: true });
  const secrets = await loadSecrets(o.dir);
  const ports = o.ports ?? { edge: 0, server: 0, s3: 0 };
  const started: { stop(): Promise<void> }[] = [];
  let edge: LocalEdge | undefined;
  const stop = async () => {
    await edge?.stop();
    for (const s of started.reverse()) await s.stop();
  };
  try {
    // Each part is recorded as it comes up, so a failure of another still stops it.
    const track = <T extends { stop(): Promise<void> }>(p: Promise<T>) => p.then((part) => (started.push(part), part));
    const [s3, server, bundle] = await Promise.all([
      track(startS3({ directory: join(o.dir, 's3'), bucket: 'symbiosis', port: ports.s3 })),
      track(spawnServe({ modelDir: o.modelDir, secret: secrets.SESSION_SECRET, port: ports.server })),
      buildEdge(join(o.dir, 'edge-dist')),
    ]);
    const env = localEdgeVars(server.url, s3, secrets, o.vars);
    const launchEdge = (port: number) => startEdge({ bundle, env, port, stateDir: join(o.dir, 'edge-state') });
    edge = await launchEdge(ports.edge);
    const stack: LocalStack = {
      edgeUrl: edge.url,
      serverUrl: server.url,
      s3Url: s3.url,
      env,
      s3,
      server,
      edge,
      stop,
      async restartEdge() {
        await edge!.stop();
        edge = await launchEdge(Number(new URL(stack.edgeUrl).port));
        stack.edge = edge;
      },
    };
    return stack;
  } catch (e) {
    await stop();
    throw e;
  }
}
