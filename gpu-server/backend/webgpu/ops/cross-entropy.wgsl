// Cross-entropy, first of two dispatches: each row's loss (the mean is cross-entropy-mean.wgsl).
//   rowLoss[r] = mask[r] ? log Σ_i exp(logits[r, i]) − logits[r, targets[r]] : 0
//   logits [rows, vocab]; targets, mask [rows] (u32; mask 0 or 1); rowLoss [rows]
//
// Thread mapping: one workgroup of WG threads per row r = workgroup_id.x + workgroup_id.y ·
// num_workgroups.x. Thread t walks i = t, t + WG, … keeping its own running maximum and sum of
// exp(x − max); one tree reduction merges the WG pairs into the log-sum-exp; thread 0 writes. A
// masked-out row runs the same reduction (its mask is not uniform across the grid, so it cannot
// skip the barriers) and writes 0.

struct Params {
  rows: u32,
  vocab: u32,
}

const WG = 64u;
const NEG_BIG = -3.0e38; // "no element yet": finite, so exp(NEG_BIG − m) is 0, never NaN

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> rowLoss: array<f32>;

var<workgroup> partial: array<vec2f, WG>; // (max, Σ exp(x − max))

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
  let base = r * p.vocab;
  var own = vec2f(NEG_BIG, 0.0);
  for (var i = t; i < p.vocab; i += WG) {
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
  if (t == 0u) {
    let lse = partial[0].x + log(partial[0].y);
    rowLoss[r] = select(0.0, lse - logits[base + min(targets[r], p.vocab - 1u)], mask[r] != 0u);
  }
}
