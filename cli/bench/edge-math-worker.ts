/**
 * The worker `bench edge-math` runs in workerd (through Miniflare): the same two deltas as in
 * Node, driven by GET requests and timed from outside, since workerd's clocks stand still while
 * a request computes (they only advance on I/O).
 *
 *   /ping                             nothing: the round trip alone
 *   /problem?width&rank&rows=1,256    a LoRA of that shape and an input of each row count
 *   /sessions                         onnxruntime-web's sessions for it (the first call also
 *                                     instantiates the wasm): timed from outside, cold start
 *   /check                            { maxRelErr: { [rows]: number } }, ORT against TypeScript
 *   /run?impl=ts|ort|nop&rows&n       n deltas (nop: n runs of a trivial session); answers a
 *                                     checksum, so the work cannot be skipped
 *
 * workerd compiles no wasm at run time: the wasm comes in as a CompiledWasm module, and
 * onnxruntime-web, handed a placeholder `wasmBinary`, is given that module when it calls
 * WebAssembly.instantiate with it. The threaded build is the only one shipped; one thread, as
 * workerd has no Web Workers.
 */
import * as ort from 'onnxruntime-web/wasm';
import ortWasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import type { LoraParams } from '../../shared/adapters/lora';
import { loraProblem, maxRelErr, OrtDelta, randomRows, trivialSession, tsDelta } from './edge-math-delta';

const placeholder = new ArrayBuffer(8);
const instantiate = WebAssembly.instantiate.bind(WebAssembly);
WebAssembly.instantiate = ((source: unknown, imports?: WebAssembly.Imports) => {
  if (ArrayBuffer.isView(source) && source.buffer === placeholder) return instantiate(ortWasm, imports).then((instance) => ({ instance, module: ortWasm }));
  return instantiate(source as BufferSource, imports);
}) as typeof WebAssembly.instantiate;
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmBinary = placeholder;

interface State {
  p: LoraParams;
  inputs: Map<number, Float32Array>;
  ortDelta?: OrtDelta;
  nop?: Awaited<ReturnType<typeof trivialSession>>;
}
let state: State | undefined;

async function problem(q: URLSearchParams): Promise<Response> {
  await release();
  const p = loraProblem(Number(q.get('width')), Number(q.get('rank')));
  const rows = (q.get('rows') ?? '1').split(',').map(Number);
  state = { p, inputs: new Map(rows.map((n) => [n, randomRows(n, p.inDim)])) };
  return Response.json({ ok: true });
}

async function release(): Promise<void> {
  await state?.ortDelta?.release();
  await state?.nop?.release();
}

async function sessions(s: State): Promise<Response> {
  await release();
  s.ortDelta = await OrtDelta.create(ort, s.p);
  s.nop = await trivialSession(ort);
  return Response.json({ ok: true });
}

async function check(s: State, ortDelta: OrtDelta): Promise<Response> {
  const errors: Record<number, number> = {};
  for (const [rows, x] of s.inputs) errors[rows] = maxRelErr(await ortDelta.run(x, rows), tsDelta(s.p, x, rows));
  return Response.json({ maxRelErr: errors });
}

async function run(s: State, ortDelta: OrtDelta, nop: NonNullable<State['nop']>, q: URLSearchParams): Promise<Response> {
  const rows = Number(q.get('rows'));
  const n = Number(q.get('n'));
  const impl = q.get('impl');
  const x = s.inputs.get(rows);
  if (!x) return new Response(`no input of ${rows} rows`, { status: 400 });
  let checksum = 0;
  for (let i = 0; i < n; i++) {
    if (impl === 'ts') checksum += tsDelta(s.p, x, rows)[i % x.length];
    else if (impl === 'ort') checksum += (await ortDelta.run(x, rows))[i % x.length];
    else await nop.run();
  }
  return Response.json({ checksum });
}

async function route(url: URL): Promise<Response> {
  if (url.pathname === '/ping') return new Response('ok');
  if (url.pathname === '/problem') return problem(url.searchParams);
  if (!state) return new Response('call /problem first', { status: 409 });
  if (url.pathname === '/sessions') return sessions(state);
  const { ortDelta, nop } = state;
  if (!ortDelta || !nop) return new Response('call /sessions first', { status: 409 });
  if (url.pathname === '/check') return check(state, ortDelta);
  if (url.pathname === '/run') return run(state, ortDelta, nop, url.searchParams);
  return new Response('not found', { status: 404 });
}

export default {
  async fetch(request: Request): Promise<Response> {
    try {
      return await route(new URL(request.url));
    } catch (e) {
      return new Response(e instanceof Error ? `${e.message}\n${e.stack}` : String(e), { status: 500 });
    }
  },
};
