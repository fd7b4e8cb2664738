/**
 * `bench finetune`'s process handling: forking job workers (worker.ts, through tsx), lining them
 * up (all loaded and warm before the clock starts), collecting their results and peak RSS.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { resolve } from 'node:path';
import { parseStatCpuSeconds, parseVmHwm, sum, type JobResult } from './plan';
import type { WorkerConfig } from './worker';
import { ENGINE_NODE_FLAGS } from '../../stack/node-flags';

const WORKER = resolve(import.meta.dirname, 'worker.ts');

/**
 * The shared setup's clients run this much nicer than the bench and its server. They stand in
 * for the tenants' own machines; here they share the cores with the one server all of them wait
 * on, and at equal priority they preempted it (its main thread 75 % busy, a quarter of that
 * runnable but not running). Measured (K = 8, 2 cores, 6 steps, shared setup alone): nice 0 180,
 * 5 182, 10 196 and 196, 19 190 tokens/s (at 19 the clients themselves wait). The dedicated jobs
 * have no shared process to yield to: they all run at the bench's own niceness.
 */
export const CLIENT_NICE = 10;

/** The niceness of a client job: CLIENT_NICE above this process's, at most 19 (raising it needs no privilege). */
export const clientNiceness = () => Math.min(19, getPriority() + CLIENT_NICE);

/** Peak RSS (VmHWM) of a live process in bytes, or undefined where /proc is not available. */
export function peakRss(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return parseVmHwm(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** CPU seconds used so far by a process (all its threads), or by one of its threads; undefined without /proc. */
export function cpuSeconds(pid: number | undefined, tid?: number): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return parseStatCpuSeconds(readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

type Message = { type: 'ready' } | { type: 'done'; result: JobResult } | { type: 'error'; message: string };

export class JobProcess {
  readonly child: ChildProcess;
  private readonly inbox: Message[] = [];
  private waiter?: () => void;
  private exitError?: Error;

  constructor(cfg: WorkerConfig, secret: string) {
    // The worker's stdout goes to this process's stderr: stdout is the bench's table and JSON.
    this.child = fork(WORKER, [JSON.stringify(cfg)], {
      // The server's V8 flags for both kinds: a dedicated job runs the same engine.
      execArgv: [...ENGINE_NODE_FLAGS, '--import', import.meta.resolve('tsx')],
      env: { ...process.env, BENCH_FINETUNE_SECRET: secret },
      stdio: ['ignore', 2, 2, 'ipc'],
    });
    if (cfg.kind === 'client' && this.child.pid !== undefined) setPriority(this.child.pid, clientNiceness());
    this.child.on('message', (m: Message) => {
      this.inbox.push(m);
      this.waiter?.();
    });
    this.child.once('exit', (code, signal) => {
      this.exitError = new Error(`a ${cfg.kind} worker (${cfg.job.name}) exited with ${signal ?? code}`);
      this.waiter?.();
    });
  }

  /** The next message of this type; rejects on an 'error' message or the worker's exit. */
  async next<T extends Message['type']>(type: T): Promise<Extract<Message, { type: T }>> {
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type || m.type === 'error');
      if (i >= 0) {
        const m = this.inbox.splice(i, 1)[0];
        if (m.type === 'error') throw new Error(`worker failed: ${m.message}`);
        return m as Extract<Message, { type: T }>;
      }
      if (this.exitError) throw this.exitError;
      await new Promise<void>((done) => (this.waiter = done));
      this.waiter = undefined;
    }
  }

  send(msg: { type: 'go' | 'exit' }): void {
    if (this.child.connected) this.child.send(msg);
  }

  /** Lets the worker exit (after its RSS was read); kills it if it does not within 10 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((done) => this.child.once('exit', () => done()));
    this.send({ type: 'exit' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

export interface MeasuredJobs {
  results: JobResult[];
  /** From 'go' to the last job's 'done', seconds. */
  makespan: number;
  /** VmHWM of each worker, read after its 'done' (its maxRSS where /proc is missing). */
  rss: number[];
  /** CPU seconds all the workers used between 'go' and the last 'done' (NaN without /proc). */
  cpuSeconds: number;
}

/**
 * Waits for every worker to be ready, starts them together, collects results and peaks, stops
 * them. `around` runs just before the start and just after the last result (the server's readings).
 */
export async function runJobs(jobs: JobProcess[], around: { ready?: () => Promise<void> | void; done?: () => Promise<void> | void } = {}): Promise<MeasuredJobs> {
  const cpu = () => sum(jobs.map((j) => cpuSeconds(j.child.pid) ?? NaN));
  try {
    await Promise.all(jobs.map((j) => j.next('ready')));
    await around.ready?.();
    const cpu0 = cpu();
    const t0 = performance.now();
    for (const j of jobs) j.send({ type: 'go' });
    const results = await Promise.all(jobs.map(async (j) => (await j.next('done')).result));
    const makespan = (performance.now() - t0) / 1000;
    const cpuUsed = cpu() - cpu0;
    await around.done?.();
    const rss = jobs.map((j, i) => peakRss(j.child.pid) ?? results[i].maxRssBytes);
    await Promise.all(jobs.map((j) => j.stop()));
    return { results, makespan, rss, cpuSeconds: cpuUsed };
  } finally {
    for (const j of jobs) j.kill();
  }
}
