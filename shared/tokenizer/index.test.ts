import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { buildHfTokenizerFiles, ChatTemplateError, createStreamDecoder, encodeLlama2c, parseLlama2cTokenizer, Tokenizer } from './index';

const TOK512 = new Uint8Array(readFileSync(new URL('../../../shared/models/stories260K/tok512.bin', import.meta.url)));
const vocab = parseLlama2cTokenizer(TOK512, 512);
const files = buildHfTokenizerFiles(vocab);
const tokenizer = Tokenizer.fromFiles(files.tokenizerJson, files.tokenizerConfig);

const STORY =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. ' +
  'One day, she saw a big, red ball. She wanted to play with it, but it was too high.';

const TEXTS = [
  'Once upon a time',
  '',
  ' ',
  '   ',
  ' leading space',
  'trailing space ',
  'multiple   spaces   inside',
  'line one\nline two',
  '\n',
  '\n\nTwo blank lines\n\n',
  'tab\tseparated',
  'CRLF line\r\nending',
  'Hello, world!',
  "What's that? It's Tom's ball.",
  "don't won't can't shouldn't",
  '"Quoted," she said; then: (aside) [brackets] {braces}',
  'Numbers 0 1 2 3 42 1234567890 3.14159',
  'ALL CAPS SHOUTING',
  'MiXeD CaSe WoRdS',
  'a',
  'I',
  'the the the the',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  'She  said ,   "Hi" .',
  'email@example.com https://example.org/path?x=1&y=2',
  'Tom said: “Hello!” — and left… ‘ok’',
  '~`!@#$%^&*()_+-=[]{}|;\':",./<>?\\',
  '\u00a0non-breaking\u00a0space and a hair\u200aspace',
  'café',
  'naïve über Übermut',
  'Ümlaut é ñ ß',
  '日本語',
  '🦄',
  'unicorn 🦄 emoji 🎉 party',
  '👨‍👩‍👧 family 👍🏽',
  'Привет мир',
  'مرحبا بالعالم',
  '€100 ™ | < > ~',
  STORY,
  `${STORY}\n\n`.repeat(12),
];

describe('Tokenizer built from tok512.bin', () => {
  it.each(TEXTS.map((t) => [JSON.stringify(t).slice(0, 60), t]))('encodes %s exactly as llama2.c', (_, text) => {
    expect(tokenizer.encode(text)).toEqual(encodeLlama2c(vocab, text, { bos: true }));
    expect(tokenizer.encode(text, { addSpecialTokens: false })).toEqual(encodeLlama2c(vocab, text, { bos: false }));
  });

  it.each(TEXTS.map((t) => [JSON.stringify(t).slice(0, 60), t]))('round-trips %s through decode', (_, text) => {
    expect(tokenizer.decode(tokenizer.encode(text, { addSpecialTokens: false }))).toBe(text);
  });

  it('encodes "Once upon a time" to the known ids, BOS first', () => {
    const ids = encodeLlama2c(vocab, 'Once upon a time', { bos: true });
    expect(ids[0]).toBe(1);
    expect(ids).toEqual([1, 403, 407, 261, 378]);
    expect(tokenizer.encode('Once upon a time')).toEqual(ids);
  });

  it('decodes special tokens as HF does, or skips them', () => {
    const ids = [...tokenizer.encode('Once upon a time'), 2];
    expect(tokenizer.decode(ids)).toBe('<s> Once upon a time</s>');
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe('Once upon a time');
    expect(tokenizer.decode([])).toBe('');
  });

  it('does not clean up spaces before punctuation', () => {
    expect(tokenizer.decode(tokenizer.encode('Hi . Yes , no !', { addSpecialTokens: false }))).toBe('Hi . Yes , no !');
  });

  it('reports ids and sizes', () => {
    expect(tokenizer.bosTokenId).toBe(1);
    expect(tokenizer.eosTokenIds).toEqual([2]);
    expect(tokenizer.vocabSize).toBe(512);
    expect(tokenizer.tokenToId('▁t')).toBe(259);
    expect(tokenizer.idToToken(13)).toBe('<0x0A>');
    expect(tokenizer.hasChatTemplate).toBe(false);
  });

  it('shows the known, standard divergences from llama2.c', () => {
    // A literal "<s>" is the special token; a literal "▁" is a space to the HF tokenizer.
    expect(tokenizer.encode('<s>', { addSpecialTokens: false })).toEqual([1]);
    expect(encodeLlama2c(vocab, '<s>', { bos: false })).not.toEqual([1]);
    expect(tokenizer.encode('▁x')).not.toEqual(encodeLlama2c(vocab, '▁x', { bos: true }));
  });
});

describe('StreamDecoder', () => {
  const text = 'Once upon a time 🦄 flew over 日本. The end.';
  const all = tokenizer.encode(text);
  const promptIds = all.slice(0, 5); // <s> Once upon a time

  it('emits exactly the text a full decode adds, holding back split characters', () => {
    const unicorn = [0xf0, 0x9f, 0xa6, 0x84].map((b) => b + 3);
    expect(all.join(',')).toContain(unicorn.join(','));
    const stream = createStreamDecoder(tokenizer, promptIds);
    const chunks = all.slice(5).map((id) => stream.push(id));
    expect(chunks.join('') + stream.flush()).toBe(' 🦄 flew over 日本. The end.');
    expect(chunks.join('')).toBe(tokenizer.decode(all, { skipSpecialTokens: true }).slice('Once upon a time'.length));
    expect(chunks.some((c) => c.includes('\uFFFD'))).toBe(false);
    // the three leading bytes of 🦄 emit nothing; the fourth emits the whole character
    const at = all.indexOf(unicorn[0]) - 5;
    expect(chunks.slice(at, at + 4)).toEqual(['', '', '', '🦄']);
    // the space before 🦄 survives (decoding that token alone would strip it)
    expect(tokenizer.decode([all[5]])).toBe('');
    expect(chunks[0]).toBe(' ');
  });

  it('without a prompt, matches decoding the generated ids', () => {
    const generated = tokenizer.encode('Lily smiled 😀!', { addSpecialTokens: false });
    const stream = createStreamDecoder(tokenizer);
    const out = generated.map((id) => stream.push(id)).join('');
    expect(out).toBe(tokenizer.decode(generated));
    expect(out).toBe('Lily smiled 😀!');
  });

  it('decodes a short window per token however long the stream, and its chunks still make the full decode', () => {
    const story = 'Once upon a time, a little girl named Zara found a 🦄 in the woods. 日本 was far away. '.repeat(12);
    const ids = tokenizer.encode(story);
    const [prompt, generated] = [ids.slice(0, 200), ids.slice(200)];
    const decode = vi.spyOn(tokenizer, 'decode');
    try {
      const stream = createStreamDecoder(tokenizer, prompt);
      const out = generated.map((id) => stream.push(id)).join('') + stream.flush();
      const full = tokenizer.decode(ids, { skipSpecialTokens: true });
      expect(out).toBe(full.slice(tokenizer.decode(prompt, { skipSpecialTokens: true }).length));
      // five tokens already shown, plus the unshown ones (a character's bytes at most): not the whole stream
      const longest = Math.max(...decode.mock.calls.slice(0, -2).map(([decoded]) => decoded.length));
      expect(longest).toBeLessThanOrEqual(5 + 4);
    } finally {
      decode.mockRestore();
    }
  });

  it('skips special tokens and flushes an incomplete sequence at the end', () => {
    const stream = createStreamDecoder(tokenizer, [1]);
    expect(tokenizer.encode('Hi', { addSpecialTokens: false }).map((id) => stream.push(id)).join('')).toBe('Hi');
    expect(stream.push(0xf0 + 3)).toBe('');
    expect(stream.push(0x9f + 3)).toBe('');
    expect(stream.push(2)).toBe(''); // EOS after the broken sequence: nothing new to show yet
    expect(stream.flush()).toBe('\uFFFD');
    expect(stream.flush()).toBe('');
  });
});

describe('chat templates', () => {
  const LLAMA2_TEMPLATE =
    "{% if messages[0]['role'] == 'system' %}{% set system = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}{% set messages = messages[1:] %}{% else %}{% set system = '' %}{% endif %}" +
    "{% for message in messages %}" +
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + (system if loop.first else '') + message['content'] + ' [/INST]' }}" +
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + ' ' + eos_token }}" +
    "{% else %}{{ raise_exception('unknown role ' + message['role']) }}{% endif %}" +
    "{% endfor %}{% if add_generation_prompt %}{{ '' }}{% endif %}";
  const withTemplate = buildHfTokenizerFiles(vocab, { chatTemplate: LLAMA2_TEMPLATE });
  const chat = Tokenizer.fromFiles(withTemplate.tokenizerJson, withTemplate.tokenizerConfig);

  it('renders a Llama-2-style conversation with bos_token and eos_token', () => {
    expect(chat.hasChatTemplate).toBe(true);
    const rendered = chat.applyChatTemplate(
      [
        { role: 'system', content: 'Tell short stories.' },
        { role: 'user', content: 'A story about Lily?' },
        { role: 'assistant', content: 'Lily played.' },
        { role: 'user', content: 'More!' },
      ],
      { addGenerationPrompt: true },
    );
    expect(rendered).toBe('<s>[INST] <<SYS>>\nTell short stories.\n<</SYS>>\n\nA story about Lily? [/INST] Lily played. </s><s>[INST] More! [/INST]');
    // the rendered <s> and </s> encode as the special tokens
    const ids = chat.encode(rendered, { addSpecialTokens: false });
    expect(ids[0]).toBe(1);
    expect(ids.filter((id) => id === 2)).toHaveLength(1);
  });

  it('passes template errors through and refuses when there is no template', () => {
    expect(() => chat.applyChatTemplate([{ role: 'robot', content: 'x' }])).toThrow(/unknown role robot/);
    expect(() => tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }])).toThrow(ChatTemplateError);
    expect(() => tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }])).toThrow(/no chat_template/);
  });

  it('reads special tokens written as AddedToken objects and named template lists', () => {
    const config = {
      ...withTemplate.tokenizerConfig,
      bos_token: { __type: 'AddedToken', content: '<s>' },
      chat_template: [{ name: 'default', template: '{{ bos_token }}{{ messages[0].content }}' }],
    };
    const t = Tokenizer.fromFiles(withTemplate.tokenizerJson, config);
    expect(t.bosTokenId).toBe(1);
    expect(t.applyChatTemplate([{ role: 'user', content: 'hi' }])).toBe('<s>hi');
  });
});
