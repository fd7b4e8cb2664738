/** `symbiosis` — the command-line entry point: one module per command. */
import { UsageError, type Command } from './args';
import { benchCommand } from './bench';
import { convertCommand } from './convert';
import { generateCommand } from './generate';
import { initRandomCommand } from './init-random';
import { mergeCommand } from './merge';
import { serveCommand } from './serve';
import { startCommand } from './start';
import { trainCommand } from './train';

const COMMANDS: Command[] = [benchCommand, convertCommand, generateCommand, initRandomCommand, mergeCommand, serveCommand, startCommand, trainCommand];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'symbiosis — PEFT adapters on one shared, frozen base model',
    '',
    'Usage: symbiosis <command> [options]    (symbiosis <command> --help for details)',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`symbiosis: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`symbiosis ${name}: ${e.message}\n(see symbiosis ${name} --help)\n`);
      return 2;
    }
    process.stderr.write(`symbiosis ${name}: ${(e as Error).message}\n`);
    if (process.env.SYMBIOSIS_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    return 1;
  }
}
