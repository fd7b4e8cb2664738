/** Test helpers for the processes the CLI starts (Linux /proc). */
import { readdir, readFile } from 'node:fs/promises';

/** The processes whose parent is `pid`. */
async function childrenOf(pid: number): Promise<number[]> {
  const kids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) kids.push(Number(entry));
  }
  return kids;
}

/**
 * The child of `pid` that runs the CLI again (a relaunch, relaunch.ts). Not simply its first
 * child: with a cold transform cache tsx has an esbuild service running beside it.
 */
export async function cliChildOf(pid: number): Promise<number | undefined> {
  for (const kid of await childrenOf(pid)) {
    if ((await commandLine(kid).catch(() => [])).some((arg) => arg.endsWith('bin/symbiosis.js'))) return kid;
  }
  return undefined;
}

/** A process's command line, one entry per argument. */
export async function commandLine(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls every 100 ms until `what` holds or 15 s have passed (the caller asserts). */
export async function waitUntil(what: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 150 && !(await what()); i++) await new Promise((r) => setTimeout(r, 100));
}
