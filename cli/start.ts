import { join, resolve } from 'node:path';
import { ensureDefaultModel } from '../shared/node/default-model';
import { parseCommand, type Command } from './args';
import { generateCommand } from './generate';

export const startCommand: Command = {
  name: 'start',
  summary: 'run the local demo: the default model (stories260K), converted on first run',
  usage: `Usage: symbiosis start [--prompt <text>]

Converts stories260K into .dev/models/stories260K on first run (from ../shared when the
checkout has it, else downloaded once from its public home) and generates from it.`,
  async run(argv) {
    const parsed = parseCommand(this, argv, { prompt: { type: 'string' } });
    if (!parsed) return 0;
    const dir = await ensureDefaultModel(resolve(join('.dev', 'models', 'stories260K')));
    return generateCommand.run(['--model', dir, '--prompt', parsed.values.prompt ?? 'Once upon a time', '--max-tokens', '200', '--temperature', '0']);
  },
};
