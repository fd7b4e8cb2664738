/** Test helpers of the bench commands (vitest only). */
import { vi } from 'vitest';
import type { Command } from '../args';

/** Runs a command in-process, returning its exit code and what it wrote to stdout (stderr is silenced). */
export async function runCommand(command: Command, argv: string[]): Promise<{ code: number; stdout: string }> {
  const out: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const code = await command.run(argv);
  return { code, stdout: out.join('') };
}

/** A measured number: finite and above zero. */
export const positive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;
