/** A real `symbiosis serve` child process, as the local stack and the end-to-end tests run it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { ENGINE_NODE_FLAGS } from './node-flags';

const BIN = resolve(import.meta.dirname, '../../bin/symbiosis.js');

export interface ServeProcess {
  /** http://host:port */
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `threads`: the cpu backend's onnxruntime intra-op threads (serve's --threads; default: its own). */
export function spawnServe(o: { modelDir: string; secret: string; port: number; backend?: 'cpu' | 'reference' | 'webgpu'; threads?: number }): Promise<ServeProcess> {
  const args = [...ENGINE_NODE_FLAGS, BIN, 'serve', '--model', o.modelDir, '--port', String(o.port), '--host', '127.0.0.1', '--backend', o.backend ?? 'cpu'];
  if (o.threads !== undefined) args.push('--threads', String(o.threads));
  const child = spawn(process.execPath, args, {
    env: { ...process.env, SESSION_SECRET: o.secret },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  // Miniflare ends this process on Ctrl-C (exit code 130) before async cleanup can run, so the
  // server must not outlive it: a signal sent from the 'exit' event still goes out.
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((done) =>
    child.once('exit', () => {
      process.off('exit', killOnExit);
      done();
    }),
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolveServe, reject) => {
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) resolveServe({ url: m[1], child, stop });
    });
    child.once('exit', (code) => reject(new Error(`symbiosis serve exited with ${code}: ${err.trim()}`)));
  });
}

export const modelsDir = (root: string) => join(root, 'models');
