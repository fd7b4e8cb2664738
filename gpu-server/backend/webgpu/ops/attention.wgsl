// Causal grouped-query attention of query rows at positions pos0 … pos0+rows−1 over a K/V cache:
//   out[r, h] = Σ_{j ≤ pos0+r} softmax_j(scale · q[r, h] · k[j, g]) · v[j, g]
//   g = h / (nHeads / nKvHeads), scale = 1/sqrt(headDim)
//   q, out [rows, nHeads·headDim]; k, v [≥ pos0+rows, nKvHeads·headDim]
//
// Thread mapping: one workgroup of WG threads per (row r, head h), item = r·nHeads + h =
// workgroup_id.x + workgroup_id.y · num_workgroups.x. The keys are walked WG at a time, with an
// online softmax (running maximum m and sum l, earlier terms rescaled by exp(m_old − m_new)):
// thread t scores key c + t of chunk c, two tree reductions in workgroup memory give the chunk's
// maximum and sum of exp(s − m), and thread t then adds the chunk's weighted values to the output
// dims it owns, d = t, t + WG, … (at most MAX_HEAD_DIM / WG of them, kept in registers).

struct Params {
  rows: u32,
  pos0: u32,
  n_heads: u32,
  n_kv_heads: u32,
  head_dim: u32,
  scale: f32,
}

const WG = 64u;
const MAX_HEAD_DIM = 256u;
const DIMS_PER_THREAD = MAX_HEAD_DIM / WG;
const NEG_BIG = -3.0e38; // "no score yet": finite, so exp(NEG_BIG − m) is 0, never NaN

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> scaled_q: array<f32, MAX_HEAD_DIM>;
var<workgroup> weights: array<f32, WG>; // the chunk's exp(s − m)
var<workgroup> partial: array<f32, WG>;

fn reduce_max(t: u32, value: f32) -> f32 {
  partial[t] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (t < stride) {
      partial[t] = max(partial[t], partial[t + stride]);
    }
    workgroupBarrier();
  }
  let result = partial[0];
  workgroupBarrier(); // everyone has read it before partial is reused
  return result;
}

fn reduce_sum(t: u32, value: f32) -> f32 {
  partial[t] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (t < stride) {
      partial[t] += partial[t + stride];
    }
    workgroupBarrier();
  }
  let result = partial[0];
  workgroupBarrier();
  return result;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let item = wid.x + wid.y * groups.x;
  if (item >= p.rows * p.n_heads) {
    return;
  }
  let r = item / p.n_heads;
  let h = item % p.n_heads;
  let kv_dim = p.n_kv_heads * p.head_dim;
  let qo = item * p.head_dim; // = r·nHeads·headDim + h·headDim
  let ko = (h / (p.n_heads / p.n_kv_heads)) * p.head_dim;
  let last = p.pos0 + r;
  for (var d = t; d < p.head_dim; d += WG) {
    scaled_q[d] = q[qo + d] * p.scale;
  }
  workgroupBarrier();

  var m = NEG_BIG;
  var l = 0.0;
  var acc: array<f32, DIMS_PER_THREAD>;
  for (var c = 0u; c <= last; c += WG) {
    let j = c + t;
    var s = NEG_BIG;
    if (j <= last) {
      s = 0.0;
      for (var d = 0u; d < p.head_dim; d++) {
        s += scaled_q[d] * k[j * kv_dim + ko + d];
      }
    }
    let m_new = max(m, reduce_max(t, s));
    var e = 0.0;
    if (j <= last) {
      e = exp(s - m_new);
    }
    weights[t] = e;
    let alpha = exp(m - m_new);
    l = l * alpha + reduce_sum(t, e); // its barriers also publish weights
    m = m_new;
    let n = min(WG, last + 1u - c);
    for (var a = 0u; a < DIMS_PER_THREAD; a++) {
      let d = t + a * WG;
      if (d < p.head_dim) {
        var sum = acc[a] * alpha;
        for (var jj = 0u; jj < n; jj++) {
          sum += weights[jj] * v[(c + jj) * kv_dim + ko + d];
        }
        acc[a] = sum;
      }
    }
    workgroupBarrier(); // weights are read before the next chunk writes them
  }
  for (var a = 0u; a < DIMS_PER_THREAD; a++) {
    let d = t + a * WG;
    if (d < p.head_dim) {
      out[qo + d] = acc[a] / l;
    }
  }
}
