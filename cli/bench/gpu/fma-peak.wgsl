// The card's measured f32 arithmetic peak (`symbiosis bench gpu`, key peak): the ceiling the
// backend's kernels are compared against. They accumulate in f32 on the shader cores (WebGPU
// reaches no tensor cores), so f32 fused multiply-adds are the relevant roof.
//
// Each invocation runs `iterations` rounds of 8 independent vec4 FMA chains, a ← a·m + c:
// 32 scalar chains give every core enough independent work to hide the FMA latency, and no
// memory is touched inside the loop. m and c come from the uniform buffer, so the compiler can
// neither fold the chains nor drop the loop; with m < 1 and c > 0 every value converges to
// c / (1 − m) and stays finite and normal. FLOPs per invocation: iterations · 8 · 4 · 2.
//
// The result is written only when it equals a value it can never reach (`never`), which the
// compiler cannot prove: the loop must run, and the kernel moves no bytes.

struct Params {
  iterations: u32,
  m: f32,
  c: f32,
  never: f32,
}

const WG = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> sink: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let id = gid.x;
  let s = f32(id & 1023u) * 1e-6;
  let m = vec4<f32>(p.m);
  let c = vec4<f32>(p.c);
  var a0 = vec4<f32>(s, s + 0.01, s + 0.02, s + 0.03);
  var a1 = a0 + 0.1;
  var a2 = a0 + 0.2;
  var a3 = a0 + 0.3;
  var a4 = a0 + 0.4;
  var a5 = a0 + 0.5;
  var a6 = a0 + 0.6;
  var a7 = a0 + 0.7;
  for (var i = 0u; i < p.iterations; i++) {
    a0 = fma(a0, m, c);
    a1 = fma(a1, m, c);
    a2 = fma(a2, m, c);
    a3 = fma(a3, m, c);
    a4 = fma(a4, m, c);
    a5 = fma(a5, m, c);
    a6 = fma(a6, m, c);
    a7 = fma(a7, m, c);
  }
  let sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
  if (sum.x == p.never) {
    sink[id % arrayLength(&sink)] = sum;
  }
}
