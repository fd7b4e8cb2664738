/**
 * /v1/adapters: a tenant's own adapters. Upload is multipart/form-data with exactly two file
 * parts, `adapter_config.json` and `adapter_model.safetensors`; every other route acts on the
 * authenticated tenant's adapters only.
 */
import { Hono } from 'hono';
import { AdapterNameSchema } from '../../shared/api/adapters';
import type { EdgeEnv } from '../deps';
import { ApiError, badRequest } from '../errors';
import type { PeftFiles } from './store';

const PARTS = ['adapter_config.json', 'adapter_model.safetensors'] as const;
/** Multipart framing on top of the files themselves. */
const MULTIPART_OVERHEAD = 16 * 1024;

function adapterName(raw: string): string {
  const parsed = AdapterNameSchema.safeParse(raw);
  if (!parsed.success) throw badRequest(`invalid adapter name "${raw}": ${parsed.error.issues[0].message}`, 'invalid_name', 'name');
  return parsed.data;
}

/** `bytes`: the upload's size where known (undefined: a stream cut off at the limit). */
function tooLarge(limit: number, bytes?: number): ApiError {
  const size = bytes === undefined ? `more than ${limit}` : String(bytes);
  return new ApiError(413, `the upload is ${size} bytes; this tenant's limit is ${limit} bytes`, 'upload_too_large');
}

/**
 * The body, or null as soon as it exceeds `cap` bytes: a body sent without Content-Length
 * (chunked) is held to the same limit as a declared one instead of being buffered whole first.
 */
async function readCapped(req: Request, cap: number): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  if (req.body) {
    const reader = req.body.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      length += r.value.length;
      if (length > cap) {
        await reader.cancel();
        return null;
      }
      chunks.push(r.value);
    }
  }
  const body = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.length;
  }
  return body;
}

async function readUpload(req: Request, limit: number): Promise<PeftFiles> {
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (declared > limit + MULTIPART_OVERHEAD) throw tooLarge(limit, declared);
  const contentType = req.headers.get('content-type') ?? '';
  if (!/^multipart\/form-data/i.test(contentType)) {
    throw badRequest(`upload the adapter as multipart/form-data with file parts ${PARTS.map((p) => `"${p}"`).join(' and ')}`, 'invalid_upload');
  }
  const body = await readCapped(req, limit + MULTIPART_OVERHEAD);
  if (!body) throw tooLarge(limit);
  let form: FormData;
  try {
    form = await new Response(body as Uint8Array<ArrayBuffer>, { headers: { 'content-type': contentType } }).formData();
  } catch (e) {
    throw badRequest(`the multipart body cannot be parsed: ${(e as Error).message}`, 'invalid_upload');
  }
  const unknown = [...new Set(form.keys())].filter((k) => !(PARTS as readonly string[]).includes(k));
  if (unknown.length) throw badRequest(`unsupported part${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; expected ${PARTS.join(' and ')}`, 'unsupported_field', unknown[0]);
  const bytes: Uint8Array[] = [];
  for (const part of PARTS) {
    const values = form.getAll(part);
    if (values.length !== 1 || typeof values[0] === 'string') throw badRequest(`the upload needs exactly one file part "${part}"`, 'missing_file', part);
    bytes.push(new Uint8Array(await (values[0] as File).arrayBuffer()));
  }
  const total = bytes[0].length + bytes[1].length;
  if (total > limit) throw tooLarge(limit, total);
  return { configJson: bytes[0], safetensors: bytes[1] };
}

export const adapters = new Hono<EdgeEnv>()
  .get('/', async (c) => c.json({ object: 'list', data: await c.var.deps.adapters.list(c.var.tenant.id) }))
  .put('/:name', async (c) => {
    const name = adapterName(c.req.param('name'));
    const { tenant, deps } = c.var;
    if (name === (await deps.base.info()).name) throw badRequest(`"${name}" is the base model's name; choose another adapter name`, 'invalid_name', 'name');
    const files = await readUpload(c.req.raw, tenant.quotas.maxAdapterBytes);
    return c.json(await deps.adapters.put(tenant.id, name, files, tenant.quotas.maxAdapters), 201);
  })
  .get('/:name', async (c) => c.json(await c.var.deps.adapters.info(c.var.tenant.id, adapterName(c.req.param('name')))))
  .get('/:name/download', async (c) => {
    const files = await c.var.deps.adapters.files(c.var.tenant.id, adapterName(c.req.param('name')), c.req.query('version'));
    const form = new FormData();
    form.append(PARTS[0], new File([files.configJson as Uint8Array<ArrayBuffer>], PARTS[0], { type: 'application/json' }));
    form.append(PARTS[1], new File([files.safetensors as Uint8Array<ArrayBuffer>], PARTS[1], { type: 'application/octet-stream' }));
    c.header('x-adapter-version', files.meta.version);
    return new Response(form, { headers: c.res.headers });
  })
  .delete('/:name', async (c) => {
    const name = adapterName(c.req.param('name'));
    await c.var.deps.adapters.delete(c.var.tenant.id, name);
    return c.json({ object: 'adapter', name, deleted: true });
  });
