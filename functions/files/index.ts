/**
 * /v1/files, OpenAI-compatible, for fine-tuning data: multipart/form-data with a `file` part
 * and `purpose` = "fine-tune". The JSONL is checked line by line on upload (a 400 names the
 * first bad line), so a job never starts on data it cannot read.
 */
import { Hono } from 'hono';
import { parseJsonl } from '../../shared/train/data';
import type { EdgeEnv } from '../deps';
import { ApiError, badRequest } from '../errors';

const MAX_FILE_BYTES = 64 * 1024 * 1024;

export const files = new Hono<EdgeEnv>()
  .post('/', async (c) => {
    if (Number(c.req.header('content-length') ?? 0) > MAX_FILE_BYTES + 16 * 1024) throw new ApiError(413, `files are limited to ${MAX_FILE_BYTES} bytes`, 'upload_too_large');
    let form: FormData;
    try {
      form = await c.req.raw.formData();
    } catch {
      throw badRequest('upload the file as multipart/form-data with parts "file" and "purpose"', 'invalid_upload');
    }
    const unknown = [...new Set(form.keys())].filter((k) => k !== 'file' && k !== 'purpose');
    if (unknown.length) throw badRequest(`unsupported part${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}`, 'unsupported_field', unknown[0]);
    if (form.get('purpose') !== 'fine-tune') throw badRequest('purpose must be "fine-tune" (the only purpose this API serves)', 'invalid_field', 'purpose');
    const file = form.get('file');
    if (!file || typeof file === 'string') throw badRequest('the upload needs a file part "file"', 'missing_file', 'file');
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (bytes.length > MAX_FILE_BYTES) throw new ApiError(413, `files are limited to ${MAX_FILE_BYTES} bytes`, 'upload_too_large');
    try {
      parseJsonl(new TextDecoder('utf-8', { fatal: true }).decode(bytes), file.name || 'file');
    } catch (e) {
      throw badRequest((e as Error).message, 'invalid_file', 'file');
    }
    return c.json(await c.var.deps.files.put(c.var.tenant.id, file.name || 'data.jsonl', bytes), 200);
  })
  .get('/', async (c) => c.json({ object: 'list', data: await c.var.deps.files.list(c.var.tenant.id) }))
  .get('/:id', async (c) => c.json(await c.var.deps.files.meta(c.var.tenant.id, c.req.param('id'))))
  .get('/:id/content', async (c) => new Response(await c.var.deps.files.content(c.var.tenant.id, c.req.param('id')) as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/jsonl' } }))
  .delete('/:id', async (c) => {
    await c.var.deps.files.delete(c.var.tenant.id, c.req.param('id'));
    return c.json({ id: c.req.param('id'), object: 'file', deleted: true });
  });
