/**
 * `symbiosis` — the command-line entry point: one module per command, each imported only when
 * it runs. Imported together they put every command's dependencies (miniflare and wrangler's
 * bundles, lodash, QuickJS…) into every process: 32 of a training server's 47 MB of JavaScript
 * heap, which V8 marks again at each of its ~10 collections a second.
 */
import { UsageError, type Command } from './args';
import { hasEngineFlags } from './stack/node-flags';
import { followLauncher, relaunchWithEngineFlags } from './stack/relaunch';

export const COMMANDS: Record<string, () => Promise<Command>> = {
  bench: async () => (await import('./bench')).benchCommand,
  'convert-llama2c': async () => (await import('./convert')).convertCommand,
  generate: async () => (await import('./generate')).generateCommand,
  'init-random': async () => (await import('./init-random')).initRandomCommand,
  merge: async () => (await import('./merge')).mergeCommand,
  serve: async () => (await import('./serve')).serveCommand,
  start: async () => (await import('./start')).startCommand,
  train: async () => (await import('./train')).trainCommand,
};

/**
 * The commands that run the engine or a training job: they run under ENGINE_NODE_FLAGS
 * (stack/node-flags.ts). `bench` too: bench serve, kernels and gpu run the engine in their own
 * process, and should measure it as `serve` runs it (bench serve, 3 runs each: one session
 * 182–191 → 209–217 tokens/s, 32 base sessions 1263–1401 → 1350–1443).
 */
const ENGINE_COMMANDS: ReadonlySet<string> = new Set(['serve', 'train', 'bench']);

async function usage(): Promise<string> {
  const commands = await Promise.all(Object.values(COMMANDS).map((load) => load()));
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'symbiosis — PEFT adapters on one shared, frozen base model',
    '',
    'Usage: symbiosis <command> [options]    (symbiosis <command> --help for details)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write((await usage()) + '\n');
    return name === undefined ? 2 : 0;
  }
  if (!Object.hasOwn(COMMANDS, name)) {
    process.stderr.write(`symbiosis: unknown command "${name}"\n\n${await usage()}\n`);
    return 2;
  }
  if (ENGINE_COMMANDS.has(name)) {
    // Before the command's module loads: the launcher never needs onnxruntime or the engine.
    if (!hasEngineFlags()) return relaunchWithEngineFlags(argv);
    followLauncher();
  }
  try {
    return await (await COMMANDS[name]()).run(rest);
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
