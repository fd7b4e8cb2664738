/**
 * A tenant's uploaded files (JSONL training data), sealed like adapters:
 *   files/<tenant>/<id>        the content
 *   files/<tenant>/<id>.meta   the FileObject (written last, deleted first)
 */
import type { FileObject } from '../../shared/api/fine-tuning';
import { randomId } from '../crypto';
import { notFound } from '../errors';
import type { SealedStore } from '../store';

const key = (tenant: string, id: string) => `files/${tenant}/${id}`;

export class FileStore {
  constructor(private readonly store: SealedStore) {}

  async put(tenant: string, filename: string, content: Uint8Array): Promise<FileObject> {
    const file: FileObject = { id: `file-${randomId(20)}`, object: 'file', bytes: content.length, created_at: Math.floor(Date.now() / 1000), filename, purpose: 'fine-tune' };
    await this.store.put(tenant, key(tenant, file.id), content);
    await this.store.putJson(tenant, `${key(tenant, file.id)}.meta`, file);
    return file;
  }

  async meta(tenant: string, id: string): Promise<FileObject> {
    const file = /^file-[a-z0-9]{20}$/.test(id) ? ((await this.store.getJson(tenant, `${key(tenant, id)}.meta`)) as FileObject | null) : null;
    if (!file) throw notFound(`no file "${id}"`);
    return file;
  }

  async content(tenant: string, id: string): Promise<Uint8Array> {
    await this.meta(tenant, id);
    const bytes = await this.store.get(tenant, key(tenant, id));
    if (!bytes) throw notFound(`file "${id}" has no content`);
    return bytes;
  }

  async list(tenant: string): Promise<FileObject[]> {
    const metas = (await this.store.objects.list(`files/${tenant}/`)).filter((k) => k.endsWith('.meta'));
    const files = await Promise.all(metas.map((k) => this.store.getJson(tenant, k) as Promise<FileObject>));
    return files.sort((a, b) => a.created_at - b.created_at);
  }

  async delete(tenant: string, id: string): Promise<void> {
    await this.meta(tenant, id);
    await this.store.objects.delete(`${key(tenant, id)}.meta`);
    await this.store.objects.delete(key(tenant, id));
  }
}
