/** `symbiosis bench <subcommand>`: measurements that print a table and, with --json, one JSON line. */
import { UsageError, type Command } from '../args';
import { benchEdgeCommand } from './edge';
import { benchFinetuneCommand } from './finetune';
import { benchGpuCommand } from './gpu';
import { benchKernelsCommand } from './kernels';
import { benchServeCommand } from './serve';

const SUBCOMMANDS: Command[] = [benchServeCommand, benchEdgeCommand, benchFinetuneCommand, benchKernelsCommand, benchGpuCommand];

export const benchCommand: Command = {
  name: 'bench',
  summary: 'benchmarks: bench serve (batched, multi-adapter and split decode on a random model), bench edge (edge vs direct), bench finetune (shared server vs dedicated model copies)',
  usage: `Usage: symbiosis bench <subcommand> [options]    (symbiosis bench <subcommand> --help for details)

Subcommands:
${SUBCOMMANDS.map((c) => `  ${c.name.padEnd(8)}  ${c.summary}`).join('\n')}`,
  async run(argv) {
    const [name, ...rest] = argv;
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      process.stdout.write(this.usage + '\n');
      return name === undefined ? 2 : 0;
    }
    const sub = SUBCOMMANDS.find((c) => c.name === name);
    if (!sub) throw new UsageError(`unknown subcommand "${name}" (one of ${SUBCOMMANDS.map((c) => c.name).join(', ')})`);
    return sub.run(rest);
  },
};
