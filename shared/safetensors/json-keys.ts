/**
 * JSON.parse silently keeps the last of duplicate keys, so the reader scans the raw header text
 * for them. The text must already be known to be valid JSON (JSON.parse succeeded).
 */

export interface DuplicateKey {
  key: string;
  /** The top-level key whose value holds the duplicate; undefined when the duplicate is top-level. */
  parent: string | undefined;
}

interface Frame {
  keys: Set<string> | undefined; // undefined for arrays
  expectKey: boolean;
  name: string | undefined; // the top-level key this frame sits under
}

const BACKSLASH = 0x5c;

/** Index just past the closing quote of the string whose opening quote is at `start`. */
function stringEnd(text: string, start: number): number {
  let j = start + 1;
  for (;;) {
    j = text.indexOf('"', j);
    let backslashes = 0;
    while (text.charCodeAt(j - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return j + 1;
    j++;
  }
}

/** The first key that repeats within one object, at any depth, or undefined. */
export function findDuplicateKey(text: string): DuplicateKey | undefined {
  const stack: Frame[] = [];
  let lastKey: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const top = stack[stack.length - 1];
    if (c === '"') {
      const end = stringEnd(text, i);
      if (top?.keys && top.expectKey) {
        const raw = text.slice(i + 1, end - 1);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(i, end)) as string) : raw;
        if (top.keys.has(key)) return { key, parent: top.name };
        top.keys.add(key);
        top.expectKey = false;
        lastKey = key;
      }
      i = end - 1;
    } else if (c === '{' || c === '[') {
      const name = stack.length === 1 ? lastKey : top?.name;
      stack.push({ keys: c === '{' ? new Set() : undefined, expectKey: c === '{', name });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',' && top?.keys) {
      top.expectKey = true;
    }
  }
  return undefined;
}
