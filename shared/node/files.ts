/** Node-only: FileSource over a local folder, and writing a set of files into one. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileSource } from '../model/directory';

export function folderSource(dir: string): FileSource {
  return {
    async read(name) {
      try {
        const b = await readFile(join(dir, name));
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
  };
}

export async function writeFolder(dir: string, files: ReadonlyMap<string, Uint8Array | string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of files) await writeFile(join(dir, name), content);
}
