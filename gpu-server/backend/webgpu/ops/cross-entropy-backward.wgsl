// Gradient of the masked mean cross-entropy with respect to the logits:
//   dLogits[r, i] = mask[r] ? (softmax(logits[r])[i] − [i = targets[r]]) / count : 0,
//   count = Σ_r mask[r]
//   logits, dLogits [rows, vocab]; targets, mask [rows] (u32; mask 0 or 1)
//
// Thread mapping: one workgroup of WG threads per row r = workgroup_id.x + workgroup_id.y ·
// num_workgroups.x. Thread t walks i = t, t + WG, … keeping its own running maximum and sum of
// exp(x − max), and also counts the mask at rows t, t + WG, … (every workgroup recounts it: rows
// are few next to the vocabulary); one tree reduction merges the WG triples; thread t then writes
// dLogits at i = t, t + WG, …. A masked-out row runs the same reduction (its mask is not uniform
// across the grid, so it cannot skip the barriers) and writes zeros.

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
@group(0) @binding(4) var<storage, read_write> dLogits: array<f32>;

var<workgroup> partial: array<vec3f, WG>; // (max, Σ exp(x − max), count)

fn merge(a: vec3f, b: vec3f) -> vec3f {
  let m = max(a.x, b.x);
  return vec3f(m, a.y * exp(a.x - m) + b.y * exp(b.x - m), a.z + b.z);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let r = wid.x + wid.y * groups.x;
  if (r >= p.rows) {
    return;
  }
  let base = r * p.vocab;
  var own = vec3f(NEG_BIG, 0.0, 0.0);
  for (var i = t; i < p.vocab; i += WG) {
    own = merge(own, vec3f(logits[base + i], 1.0, 0.0));
  }
  for (var k = t; k < p.rows; k += WG) {
    own.z += f32(mask[k] != 0u);
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
  let on = mask[r] != 0u;
  let target_id = targets[r];
  for (var i = t; i < p.vocab; i += WG) {
    let prob = exp(logits[base + i] - total.x) / total.y;
    let onehot = select(0.0, 1.0, i == target_id);
    dLogits[base + i] = select(0.0, (prob - onehot) / total.z, on);
  }
}
