import { describe, expect, it, vi } from 'vitest';
import { COMMANDS, main } from './index';

describe('symbiosis (cli/index.ts)', () => {
  it('loads each command under its own name', async () => {
    for (const [name, load] of Object.entries(COMMANDS)) expect((await load()).name).toBe(name);
  });

  it('lists every command in its usage, and refuses an unknown one with exit code 2', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['nope'])).toBe(2);
      const text = stderr.mock.calls.map((c) => String(c[0])).join('');
      expect(text).toMatch(/unknown command "nope"/);
      for (const name of Object.keys(COMMANDS)) expect(text).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    } finally {
      stderr.mockRestore();
    }
  });

  it("runs a command's --help with exit code 0", async () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['merge', '--help'])).toBe(0);
      expect(stdout.mock.calls.map((c) => String(c[0])).join('')).toMatch(/Usage: symbiosis merge/);
    } finally {
      stdout.mockRestore();
    }
  });
});
