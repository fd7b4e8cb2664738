// Row-wise softmax over the vocabulary:
//   probs[r, i] = exp(logits[r, i] − m_r) / Σ_k exp(logits[r, k] − m_r),  m_r = max_k logits[r, k]
//   logits, probs [rows, n]
//
// Thread mapping: one workgroup of WG threads per row r = workgroup_id.x + workgroup_id.y ·
// num_workgroups.x. Thread t walks i = t, t + WG, … keeping its own running maximum and sum of
// exp(x − max) (one pass, no barriers); one tree reduction merges the WG pairs; thread t then
// writes probs at the same i.

struct Params {
  rows: u32,
  n: u32,
}

const WG = 64u;
const NEG_BIG = -3.0e38; // "no element yet": finite, so exp(NEG_BIG − m) is 0, never NaN

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;

var<workgroup> partial: array<vec2f, WG>; // (max, Σ exp(x − max))

/** Two partial sums, each relative to its own maximum, as one relative to the larger. */
fn merge(a: vec2f, b: vec2f) -> vec2f {
  let m = max(a.x, b.x);
  return vec2f(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let r = wid.x + wid.y * groups.x;
  if (r >= p.rows) {
    return;
  }
  let base = r * p.n;
  var own = vec2f(NEG_BIG, 0.0);
  for (var i = t; i < p.n; i += WG) {
    own = merge(own, vec2f(logits[base + i], 1.0));
  }
  partial[t] = own;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (t < stride) {
      partial[t] = merge(partial[t], partial[t + stride]);
    }
    workgroupBarrier();
  }
  let total = partial[0];
  for (var i = t; i < p.n; i += WG) {
    probs[base + i] = exp(logits[base + i] - total.x) / total.y;
  }
}
