/**
 * A decode step's attention (one query row) as WebAssembly SIMD, four float32 lanes at a time,
 * for all heads of one layer per call: scores, their softmax (e^x as ../wasm/exp.ts computes it),
 * weighted sums. Addresses and sizes are bytes; p's rows are `row` bytes apart, n keys rounded up
 * to whole vectors.
 *
 *   scores    p[h, j] = scale · Σ_d q[h, d] · K[j, h/group, d]      for h < heads, j < n
 *   softmax   p[h, j] ← e^(p[h, j] − maxⱼ p[h, ·]) / Σⱼ …
 *   weighted  out[h, d] = Σ_j p[h, j] · V[j, h/group, d]
 *
 * Four keys at a time, each with its own vector sum (independent chains of adds keep the
 * vector units busy; one sum over d would wait on its own latency), then one key at a time for
 * the rest. headDim must be a multiple of 4. Sums are float32, in a different order from the
 * reference's float64 — equal to rounding (decode-attention.test.ts states the tolerance).
 */
import { expInPlace } from '../wasm/exp';
import { doWhile, F32, frame, I32, op, V128, whileNot, type WasmFunction } from '../wasm/writer';

type Code = number[];
/** The locals every kernel here walks the heads by. */
type HeadLocals = Pick<ReturnType<typeof frame<'h' | 'heads'>>, 'get' | 'inc'>;

/** for (h = 0; h < heads; h++) { body }, heads ≥ 1 */
const eachHead = (f: HeadLocals, ...body: Code[]): Code => doWhile([...f.get('h'), ...f.get('heads'), ...op.i32LtU], ...body, f.inc('h', 1));
/** p + h·row: head h's row of scores */
const headRow = ({ get }: Pick<ReturnType<typeof frame<'h' | 'row' | 'p'>>, 'get'>): Code => [...get('p'), ...get('h'), ...get('row'), ...op.i32Mul, ...op.i32Add];
/** base + (h / group)·hd: head h's kv head within a key's row */
const kvHead = ({ get }: Pick<ReturnType<typeof frame<'h' | 'group' | 'hd'>>, 'get'>, base: Code): Code => [...base, ...get('h'), ...get('group'), ...op.i32DivU, ...get('hd'), ...op.i32Mul, ...op.i32Add];

/** scores(q, k, p, n, row, heads, group, hd, stride, scale): hd = headDim·4, stride = a key's bytes (nKvHeads·headDim·4). */
function scores(): WasmFunction {
  const f = frame(
    { q: I32, k: I32, p: I32, n: I32, row: I32, heads: I32, group: I32, hd: I32, stride: I32, scale: F32 },
    { h: I32, j: I32, d: I32, qh: I32, k0: I32, k1: I32, k2: I32, k3: I32, pj: I32, x: V128, a0: V128, a1: V128, a2: V128, a3: V128 },
  );
  const { get, set, addI, inc, madd, hsum, zero } = f;
  const load = (base: 'qh' | 'k0' | 'k1' | 'k2' | 'k3') => [...addI(base, 'd'), ...op.v128Load()];
  const store = (a: 'a0' | 'a1' | 'a2' | 'a3', offset: number) => [...get('pj'), ...hsum(a), ...get('scale'), ...op.f32Mul, ...op.f32Store(offset)];
  const fourKeys = [
    ...set('k1', addI('k0', 'stride')), ...set('k2', addI('k1', 'stride')), ...set('k3', addI('k2', 'stride')),
    ...zero('a0', 'a1', 'a2', 'a3'),
    ...set('d', op.i32(0)),
    ...doWhile([...get('d'), ...get('hd'), ...op.i32LtU],
      set('x', load('qh')),
      madd('a0', get('x'), load('k0')), madd('a1', get('x'), load('k1')), madd('a2', get('x'), load('k2')), madd('a3', get('x'), load('k3')),
      inc('d', 16)),
    ...store('a0', 0), ...store('a1', 4), ...store('a2', 8), ...store('a3', 12),
    ...inc('pj', 16), ...set('k0', addI('k3', 'stride')), ...inc('j', 4),
  ];
  const oneKey = [
    ...zero('a0'),
    ...set('d', op.i32(0)),
    ...doWhile([...get('d'), ...get('hd'), ...op.i32LtU], madd('a0', load('qh'), load('k0')), inc('d', 16)),
    ...store('a0', 0),
    ...inc('pj', 4), ...inc('k0', 'stride'), ...inc('j', 1),
  ];
  const body = eachHead(f,
    set('qh', get('q'), get('h'), get('hd'), op.i32Mul, op.i32Add),
    set('k0', kvHead(f, get('k'))),
    set('pj', headRow(f)),
    set('j', op.i32(0)),
    whileNot([...addI('j', 4), ...get('n'), ...op.i32GtU], fourKeys),
    whileNot([...get('j'), ...get('n'), ...op.i32GeU], oneKey));
  return { name: 'scores', params: f.params, locals: f.locals, body: [body] };
}

/**
 * weighted(p, v, out, n, row, heads, group, hd, stride): p after the softmax.
 * Sixteen columns at a time (four vectors of one key's row, one cache line), one key per
 * iteration; then four columns at a time over four keys for the rest of a head (headDim % 16).
 */
function weighted(): WasmFunction {
  const f = frame(
    { p: I32, v: I32, out: I32, n: I32, row: I32, heads: I32, group: I32, hd: I32, stride: I32 },
    { h: I32, j: I32, d: I32, ph: I32, vh: I32, oh: I32, pj: I32, v0: I32, v1: I32, v2: I32, v3: I32, x: V128, a0: V128, a1: V128, a2: V128, a3: V128 },
  );
  const { get, set, addI, inc, madd, zero } = f;
  const prob = (offset: number) => [...get('pj'), ...op.v128Load32Splat(offset)];
  const load = (at: 'v0' | 'v1' | 'v2' | 'v3', offset = 0) => [...get(at), ...op.v128Load(offset)];
  const startColumns = [...zero('a0', 'a1', 'a2', 'a3'), ...set('pj', get('ph')), ...set('v0', addI('vh', 'd')), ...set('j', op.i32(0))];
  const keysLeft = [...get('j'), ...get('n'), ...op.i32GeU];

  const sixteenColumns = [
    ...startColumns,
    ...whileNot(keysLeft,
      set('x', prob(0)),
      madd('a0', get('x'), load('v0', 0)), madd('a1', get('x'), load('v0', 16)), madd('a2', get('x'), load('v0', 32)), madd('a3', get('x'), load('v0', 48)),
      inc('pj', 4), inc('v0', 'stride'), inc('j', 1)),
    ...[0, 1, 2, 3].flatMap((i) => [...get('oh'), ...get('d'), ...op.i32Add, ...get(`a${i}` as 'a0'), ...op.v128Store(16 * i)]),
    ...inc('d', 64),
  ];
  const fourKeys = [
    ...set('v1', addI('v0', 'stride')), ...set('v2', addI('v1', 'stride')), ...set('v3', addI('v2', 'stride')),
    ...madd('a0', prob(0), load('v0')), ...madd('a1', prob(4), load('v1')), ...madd('a2', prob(8), load('v2')), ...madd('a3', prob(12), load('v3')),
    ...inc('pj', 16), ...set('v0', addI('v3', 'stride')), ...inc('j', 4),
  ];
  const oneKey = [...madd('a0', prob(0), load('v0')), ...inc('pj', 4), ...inc('v0', 'stride'), ...inc('j', 1)];
  const fourColumns = whileNot([...get('d'), ...get('hd'), ...op.i32GeU],
    startColumns,
    whileNot([...addI('j', 4), ...get('n'), ...op.i32GtU], fourKeys),
    whileNot(keysLeft, oneKey),
    [...get('oh'), ...get('d'), ...op.i32Add, ...get('a0'), ...get('a1'), ...op.f32x4Add, ...get('a2'), ...get('a3'), ...op.f32x4Add, ...op.f32x4Add, ...op.v128Store()],
    inc('d', 16));
  const body = eachHead(f,
    set('ph', headRow(f)),
    set('vh', kvHead(f, get('v'))),
    set('oh', get('out'), get('h'), get('hd'), op.i32Mul, op.i32Add),
    set('d', op.i32(0)),
    whileNot([...addI('d', 64), ...get('hd'), ...op.i32GtU], sixteenColumns),
    fourColumns);
  return { name: 'weighted', params: f.params, locals: f.locals, body: [body] };
}

/**
 * softmax(p, keys, row, heads): each head's row of scores → probabilities, four lanes at a time.
 * The lanes past `keys` are set to −∞ first, so whole vectors can be read (they come out ~1e-38
 * and are never weighted). The sum is float32 in lanes, not the reference's float64 in order.
 */
function softmax(): WasmFunction {
  const f = frame({ p: I32, keys: I32, row: I32, heads: I32 }, { h: I32, i: I32, pr: I32, x: V128, e: V128, n: V128, s: V128, acc: V128 });
  const { get, set, addI, inc, hsum } = f;
  const at = [...addI('pr', 'i')];
  const overRow = (...body: number[][]) => [...set('i', op.i32(0)), ...whileNot([...get('i'), ...get('row'), ...op.i32GeU], ...body, inc('i', 16))];
  const lanes = [1, 2, 3].flatMap((lane) => [...get('x'), ...op.f32x4ExtractLane(lane), ...op.f32Max]);
  const body = eachHead(f,
    set('pr', headRow(f)),
    // −∞ past the last key
    set('i', get('keys'), op.i32(4), op.i32Mul),
    whileNot([...get('i'), ...get('row'), ...op.i32GeU], [...at, ...op.f32Const(-Infinity), ...op.f32Store()], inc('i', 4)),
    // x ← the row's maximum in every lane
    set('x', op.f32x4Splat(-Infinity)),
    overRow(set('x', get('x'), at, op.v128Load(), op.f32x4Max)),
    set('x', get('x'), op.f32x4ExtractLane(0), lanes, op.f32x4SplatTop),
    // p ← e^(p − max), summed in acc
    set('acc', op.v128Zero),
    overRow(set('e', at, op.v128Load(), get('x'), op.f32x4Sub), expInPlace(f), [...at, ...get('e'), ...op.v128Store()], set('acc', get('acc'), get('e'), op.f32x4Add)),
    // p ← p / Σ
    set('x', op.f32Const(1), hsum('acc'), op.f32Div, op.f32x4SplatTop),
    overRow([...at, ...at, ...op.v128Load(), ...get('x'), ...op.f32x4Mul, ...op.v128Store()]));
  return { name: 'softmax', params: f.params, locals: f.locals, body: [body] };
}

export const decodeAttentionFunctions = (): WasmFunction[] => [scores(), softmax(), weighted()];
