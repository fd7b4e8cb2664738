/**
 * The tenants' side of `bench serve` in a process of its own, as the edge is in deployment: it
 * opens the sessions, applies each session's LoRA at the taps and decodes, while the bench's
 * own process runs the server. Forked through tsx; one decode at a time over IPC:
 * ← {type:'decode', url, secret, config, loraSeeds, limits, sampling?}; → {type:'result', run} or
 * {type:'error', message}.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { ENGINE_NODE_FLAGS } from '../stack/node-flags';
import type { ModelConfig } from '../../shared/model/types';
import type { SamplingParams } from '../../shared/reference/sampling';
import type { DecodeLimits, DecodeRun } from './decode';

const ENTRY = new URL('./tenant-process-main.ts', import.meta.url);

export interface DecodeRequest {
  url: string;
  secret: string;
  config: ModelConfig;
  /** One entry per session: the seed of its benchLora, or null for the base model alone. */
  loraSeeds: (number | null)[];
  limits: DecodeLimits;
  /** How every session picks its tokens (greedy when absent). */
  sampling?: SamplingParams;
}

type Reply = { type: 'result'; run: DecodeRun } | { type: 'error'; message: string };

export class TenantProcess {
  private readonly child: ChildProcess;
  private exited?: Error;

  constructor() {
    // The engine processes' V8 flags, as bench finetune's clients have them: without them its
    // concurrent-marking threads took cores from the server (node-flags.ts).
    this.child = fork(ENTRY, [], { execArgv: [...ENGINE_NODE_FLAGS, '--import', import.meta.resolve('tsx')], stdio: ['ignore', 2, 2, 'ipc'] });
    this.child.once('exit', (code, signal) => (this.exited = new Error(`the tenants' process exited with ${signal ?? code}`)));
  }

  /** The process's id (undefined if it failed to start). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  decode(request: DecodeRequest): Promise<DecodeRun> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(this.exited);
      const onExit = () => reject(this.exited);
      this.child.once('exit', onExit);
      this.child.once('message', (reply: Reply) => {
        this.child.off('exit', onExit);
        if (reply.type === 'result') resolve(reply.run);
        else reject(new Error(`the tenants' process: ${reply.message}`));
      });
      this.child.send({ type: 'decode', ...request });
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((done) => this.child.once('exit', () => done()));
    this.child.kill('SIGTERM');
    await gone;
  }
}
