import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModelDirectory } from '../model/directory';
import { ensureDefaultModel } from '../node/default-model';
import { folderSource } from '../node/files';
import { Tokenizer } from '../tokenizer';
import { buildSequences, DataError, DataStream, parseJsonl, tokenizeExample } from './data';

let tokenizer: Tokenizer;
beforeAll(async () => {
  const dir = await loadModelDirectory(folderSource(await ensureDefaultModel(resolve(import.meta.dirname, '../../.dev/models/stories260K'))));
  tokenizer = Tokenizer.fromFiles(dir.tokenizerJson as object, dir.tokenizerConfig as object);
}, 60_000);

describe('parseJsonl', () => {
  it('reads text and chat examples, skipping blank lines', () => {
    const ex = parseJsonl('{"text": "a"}\n\n{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n');
    expect(ex).toHaveLength(2);
  });

  it('names the line and the problem', () => {
    expect(() => parseJsonl('{"text": "a"}\nnot json')).toThrow(/line 2: not JSON/);
    expect(() => parseJsonl('{"text": "a", "label": 1}')).toThrow(/line 1/);
    expect(() => parseJsonl('\n')).toThrow(DataError);
  });
});

describe('tokenizeExample', () => {
  it('trains every token of a text example', () => {
    const t = tokenizeExample({ text: 'Once upon a time' }, tokenizer);
    expect(t.ids).toEqual(tokenizer.encode('Once upon a time'));
    expect(t.trained.every(Boolean)).toBe(true);
  });

  it('trains only the assistant tokens of a chat, whose text they decode to', () => {
    const t = tokenizeExample({ messages: [{ role: 'user', content: 'Tell a story.' }, { role: 'assistant', content: 'Zara ran home.' }] }, tokenizer);
    const assistant = t.ids.filter((_, i) => t.trained[i]);
    expect(tokenizer.decode(assistant).trim()).toBe('Zara ran home.');
    expect(t.trained.filter(Boolean).length).toBeLessThan(t.ids.length / 2);
  });
});

describe('buildSequences and DataStream', () => {
  const examples = () => ['one two three', 'four five six seven', 'eight'].map((text) => tokenizeExample({ text }, tokenizer));

  it('shifts targets by one and truncates to maxLength inputs', () => {
    const [s] = buildSequences(examples().slice(0, 1), 2, false);
    const ids = tokenizer.encode('one two three');
    expect(s).toEqual({ tokens: ids.slice(0, 2), targets: ids.slice(1, 3), mask: [1, 1] });
  });

  it('packs examples into full windows with no token lost', () => {
    const seqs = buildSequences(examples(), 4, true);
    const all = examples().flatMap((e) => e.ids);
    expect(seqs.flatMap((s) => s.targets)).toEqual(all.slice(1));
    expect(seqs.slice(0, -1).every((s) => s.tokens.length === 4)).toBe(true);
  });

  it('is deterministic given the seed, and resumes from a cursor', () => {
    const seqs = buildSequences(examples(), 3, true);
    const a = new DataStream(seqs, 5);
    const firstRun = Array.from({ length: 7 }, () => a.next());
    const b = new DataStream(seqs, 5);
    for (let i = 0; i < 3; i++) b.next();
    const resumed = new DataStream(seqs, 5, b.cursor);
    expect(Array.from({ length: 4 }, () => resumed.next())).toEqual(firstRun.slice(3));
    const other = new DataStream(seqs, 6);
    expect(Array.from({ length: 7 }, () => other.next())).not.toEqual(firstRun);
  });
});
