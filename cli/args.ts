/**
 * Command-line parsing shared by every command: node:util's parseArgs in strict mode (unknown
 * options are rejected by name), `--help` everywhere, numbers validated with zod.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';

export class UsageError extends Error {}

export interface Command {
  name: string;
  summary: string;
  usage: string; // the full --help text
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses argv; returns undefined after printing help when --help was given. */
export function parseCommand<O extends Options>(command: Pick<Command, 'usage'>, argv: string[], options: O, positionals = 0) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: positionals > 0 });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if ((parsed.values as Record<string, unknown>).help) {
    process.stdout.write(command.usage.trimEnd() + '\n');
    return undefined;
  }
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(`expected ${positionals} argument(s), got ${parsed.positionals.length}`);
  }
  return parsed;
}

/** A numeric option: `--name` parsed by the schema, with the option named in the error. */
export function numberOption<T extends z.ZodType<number>>(name: string, raw: unknown, schema: T): z.infer<T> | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  const result = schema.safeParse(value);
  if (raw === '' || !result.success) throw new UsageError(`--${name}: "${String(raw)}" is not valid (${result.success ? 'empty' : result.error.issues[0].message})`);
  return result.data;
}

/** --threads (or another option `name`d so): onnxruntime's intra-op threads, which only the cpu backend has — refused by name for `backend` otherwise. */
export function threadsOption(raw: unknown, backend: string, name = 'threads'): number | undefined {
  const threads = numberOption(name, raw, z.number().int().min(1).max(256));
  if (threads !== undefined && backend !== 'cpu') throw new UsageError(`--${name} applies to the cpu backend, not ${backend}`);
  return threads;
}

export function requiredString(name: string, raw: unknown): string {
  if (typeof raw !== 'string' || raw === '') throw new UsageError(`--${name} is required`);
  return raw;
}
