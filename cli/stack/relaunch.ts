/**
 * The engine's commands (ENGINE_COMMANDS in cli/index.ts: serve, train, bench) started without
 * the engine's V8 flags (node-flags.ts) run themselves again as a child with them, and stand in
 * for it: its exit code becomes ours, and the signals a process manager or a terminal sends us (a resize too) reach it once. The
 * child is in its own process group, so a terminal's Ctrl-C (sent to the whole foreground group)
 * is not delivered to it twice; it learns that we died, however we died, from its IPC channel
 * closing (followLauncher).
 */
import { spawn } from 'node:child_process';
import { close as closeInspector, url as inspectorUrl } from 'node:inspector';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { ENGINE_NODE_FLAGS } from './node-flags';

const BIN = resolve(import.meta.dirname, '../../bin/symbiosis.js');
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGWINCH'] as const;

/** Runs `symbiosis <argv…>` with the engine flags; resolves with its exit code (128 + n for signal n). */
export function relaunchWithEngineFlags(argv: readonly string[]): Promise<number> {
  // Under --inspect the launcher holds the debugger's port, and the child gets the same flag:
  // the child is the process worth debugging, so it takes the port over.
  if (inspectorUrl() !== undefined) closeInspector();
  const child = spawn(process.execPath, [...ENGINE_NODE_FLAGS, ...process.execArgv, BIN, ...argv], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], detached: true });
  const forwards = FORWARDED.map((signal) => [signal, () => void child.kill(signal)] as const);
  for (const [signal, forward] of forwards) process.on(signal, forward);
  return new Promise((done, fail) => {
    child.once('error', fail);
    child.once('exit', (code, signal) => {
      for (const [s, forward] of forwards) process.off(s, forward);
      done(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}

/**
 * In a relaunched child: when the launcher is gone (its IPC channel closed), nothing else would
 * stop this process, so it sends itself SIGTERM — the command's own shutdown, or the default
 * exit. The channel does not keep the process alive. Nothing to do in a process nobody launched.
 */
export function followLauncher(): void {
  if (!process.connected) return;
  process.channel?.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
