/**
 * Checkpoints of a `symbiosis train` run, on the tenant's own disk (the adapter never leaves
 * the machine): checkpoint.bin (shared/train/checkpoint.ts) and the loss log so far, written to
 * a temporary name and renamed, so a kill at any moment leaves the previous checkpoint whole.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PeftAdapter } from '../../shared/adapters';
import { decodeCheckpoint, encodeCheckpoint, restoreParams } from '../../shared/train/checkpoint';
import type { Trainer } from '../../shared/train/trainer';
import type { LossPoint } from './loss-curve';

async function writeAtomically(file: string, data: Uint8Array | string): Promise<void> {
  await writeFile(`${file}.tmp`, data);
  await rename(`${file}.tmp`, file);
}

export class CheckpointFolder {
  constructor(private readonly dir: string) {}

  async save(adapter: PeftAdapter, trainer: Trainer, log: LossPoint[]): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // The log first: a kill between the two writes leaves a log at least as long as the checkpoint's step.
    await writeAtomically(join(this.dir, 'log.json'), JSON.stringify(log));
    await writeAtomically(join(this.dir, 'checkpoint.bin'), encodeCheckpoint(adapter, trainer.state()));
  }

  async load(adapter: PeftAdapter, trainer: Trainer): Promise<{ log: LossPoint[] }> {
    const file = join(this.dir, 'checkpoint.bin');
    if (!existsSync(file)) throw new Error(`no checkpoint to resume in ${this.dir}`);
    const ckpt = decodeCheckpoint(new Uint8Array(await readFile(file)));
    if (JSON.stringify(ckpt.adapterConfig) !== JSON.stringify(adapter.config)) {
      throw new Error('the checkpoint was made with a different adapter configuration: resume with the same flags');
    }
    restoreParams(adapter, ckpt.params);
    trainer.load(ckpt.state);
    const log = JSON.parse(await readFile(join(this.dir, 'log.json'), 'utf8')) as LossPoint[];
    return { log: log.filter((p) => p.step <= trainer.step) };
  }
}
