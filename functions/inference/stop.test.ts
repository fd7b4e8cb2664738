import { describe, expect, it } from 'vitest';
import { StopMatcher } from './stop';

function run(stops: string[], pieces: string[]): { out: string; stopped: boolean } {
  const m = new StopMatcher(stops);
  let out = '';
  for (const p of pieces) out += m.push(p);
  return { out: out + m.flush(), stopped: m.stopped };
}

describe('StopMatcher', () => {
  it('passes text through when nothing matches', () => {
    expect(run(['END'], ['Once ', 'upon ', 'a time'])).toEqual({ out: 'Once upon a time', stopped: false });
  });

  it('cuts at a stop string split across pieces, emitting none of it', () => {
    const m = new StopMatcher(['.\n']);
    expect(m.push('He ran.')).toBe('He ran');
    expect(m.push('\nThen')).toBe('');
    expect(m.stopped).toBe(true);
  });

  it('releases held-back text that turned out not to be a stop string', () => {
    expect(run(['STOP'], ['a ST', 'OW b'])).toEqual({ out: 'a STOW b', stopped: false });
  });

  it('stops at the earliest of several stop strings', () => {
    expect(run(['b', 'a'], ['xxabyy'])).toEqual({ out: 'xx', stopped: true });
  });
});
