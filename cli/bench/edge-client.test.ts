import { describe, expect, it } from 'vitest';
import { SseParser, tokenTimes } from './edge-client';

describe('bench edge client helpers', () => {
  it('SseParser: events split across chunks, CRLF, multi-line data, comments and other fields', () => {
    const p = new SseParser();
    expect(p.push('data: {"a"')).toEqual([]);
    expect(p.push(':1}\n\nda')).toEqual(['{"a":1}']);
    expect(p.push('ta: x\r\n\r\n: comment\n\nevent: e\nid: 1\ndata:y\ndata: z\n\n')).toEqual(['x', 'y\nz']);
    expect(p.push('data: [DONE]\n\n')).toEqual(['[DONE]']);
  });

  it('tokenTimes: TTFT from the start, per token between the first and the last', () => {
    expect(tokenTimes(100, [110, 112, 114, 120])).toEqual({ ttftMs: 10, perTokenMs: 10 / 3 });
    const one = tokenTimes(0, [5]);
    expect(one.ttftMs).toBe(5);
    expect(one.perTokenMs).toBeNaN();
    expect(tokenTimes(0, []).ttftMs).toBeNaN();
  });
});
