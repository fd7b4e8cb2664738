/**
 * The end-to-end fixture for edge tests: the real local stack (s3rver, a `symbiosis serve`
 * process with stories260K, the deployed bundle in workerd) in a fresh folder, plus helpers
 * to call it as the admin and as tenants.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { IssuedKey } from '../../shared/api/admin';
import type { EnvVars } from '../../functions/env';
import { startLocalStack, type LocalStack } from '../../cli/stack';
import { ensureDefaultModel } from '../../shared/node/default-model';
import { loadModelDirectory, type ModelDirectory } from '../../shared/model/directory';
import { folderSource } from '../../shared/node/files';

/** Converted once per machine, like `npm start` does. */
export const MODEL_DIR = resolve(import.meta.dirname, '../../.dev/models/stories260K');

export interface EdgeFixture {
  stack: LocalStack;
  dir: string;
  url: string;
  admin(path: string, init?: { method?: string; body?: unknown }): Promise<Response>;
  createTenant(name: string, quotas?: object): Promise<IssuedKey>;
  /** A request as a tenant: JSON bodies are sent as JSON, FormData as multipart. */
  call(apiKey: string, path: string, init?: { method?: string; body?: unknown }): Promise<Response>;
  stop(): Promise<void>;
}

/** The default model as the stack serves it, converted first if this is a fresh checkout. */
export async function loadTestModel(): Promise<ModelDirectory> {
  return loadModelDirectory(folderSource(await ensureDefaultModel(MODEL_DIR)));
}

export async function startEdgeFixture(vars: Partial<EnvVars> = {}): Promise<EdgeFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'symbiosis-edge-'));
  const stack = await startLocalStack({ dir, modelDir: await ensureDefaultModel(MODEL_DIR), vars });
  const request = (token: string, path: string, init: { method?: string; body?: unknown } = {}) => {
    const body = init.body instanceof FormData || init.body === undefined ? (init.body as FormData | undefined) : JSON.stringify(init.body);
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (typeof body === 'string') headers['content-type'] = 'application/json';
    return fetch(`${stack.edgeUrl}${path}`, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body });
  };
  return {
    stack,
    dir,
    url: stack.edgeUrl,
    admin: (path, init) => request(stack.env.ADMIN_TOKEN, path, init),
    async createTenant(name, quotas) {
      const res = await request(stack.env.ADMIN_TOKEN, '/admin/tenants', { body: { name, ...(quotas ? { quotas } : {}) } });
      if (res.status !== 201) throw new Error(`create tenant: ${res.status} ${await res.text()}`);
      return (await res.json()) as IssuedKey;
    },
    call: request,
    async stop() {
      await stack.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A multipart upload of PEFT files, as `PUT /v1/adapters/{name}` takes it. */
export function peftForm(configJson: string | Uint8Array, safetensors: Uint8Array): FormData {
  const form = new FormData();
  form.append('adapter_config.json', new Blob([configJson as BlobPart], { type: 'application/json' }), 'adapter_config.json');
  form.append('adapter_model.safetensors', new Blob([safetensors as BlobPart]), 'adapter_model.safetensors');
  return form;
}
