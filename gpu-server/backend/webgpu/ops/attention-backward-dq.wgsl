// Backward of attention.wgsl, first of two dispatches: the query gradient, and each (row, head)'s
// softmax statistics for the second (attention-backward-dkv.wgsl). With s_j = scale · q·k_j,
// p_j = softmax_j(s) over the keys j ≤ pos0 + r, dp_j = dOut·v_j and D = Σ_j p_j·dp_j:
//   dq[r, h]     = Σ_j scale · p_j · (dp_j − D) · k[j, g]
//   stats[r, h]  = (lse, D), lse = log Σ_j exp(s_j), so that p_j = exp(s_j − lse)
//   dOut, q, dq [rows, nHeads·headDim]; k, v [≥ pos0+rows, nKvHeads·headDim]; stats [rows·nHeads]
//
// Thread mapping: one workgroup of WG threads per (row r, head h), item = r·nHeads + h =
// workgroup_id.x + workgroup_id.y · num_workgroups.x. Pass 1: thread t walks the keys j = t,
// t + WG, … keeping its own running max, Σ exp(s − max) and Σ exp(s − max)·dp (no barriers);
// one tree reduction merges the WG triples into lse and D. Pass 2 walks the keys WG at a time:
// thread t computes ds = scale·p·(dp − D) of key c + t into workgroup memory, then adds the chunk's
// ds·k to the dq dims it owns, d = t, t + WG, ….

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
@group(0) @binding(1) var<storage, read> dOut: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> dq: array<f32>;
@group(0) @binding(6) var<storage, read_write> stats: array<vec2f>;

var<workgroup> scaled_q: array<f32, MAX_HEAD_DIM>;
var<workgroup> d_out: array<f32, MAX_HEAD_DIM>;
var<workgroup> ds: array<f32, WG>;
var<workgroup> partial: array<vec3f, WG>; // (max, Σ exp(s − max), Σ exp(s − max)·dp)

/** Two partial softmax sums, each relative to its own maximum, as one relative to the larger. */
fn merge(a: vec3f, b: vec3f) -> vec3f {
  let m = max(a.x, b.x);
  let fa = exp(a.x - m);
  let fb = exp(b.x - m);
  return vec3f(m, a.y * fa + b.y * fb, a.z * fa + b.z * fb);
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
  let qo = item * p.head_dim;
  let ko = (h / (p.n_heads / p.n_kv_heads)) * p.head_dim;
  let last = p.pos0 + r;
  for (var d = t; d < p.head_dim; d += WG) {
    scaled_q[d] = q[qo + d] * p.scale;
    d_out[d] = dOut[qo + d];
  }
  workgroupBarrier();

  var own = vec3f(NEG_BIG, 0.0, 0.0);
  for (var j = t; j <= last; j += WG) {
    var s = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < p.head_dim; d++) {
      s += scaled_q[d] * k[j * kv_dim + ko + d];
      dp += d_out[d] * v[j * kv_dim + ko + d];
    }
    own = merge(own, vec3f(s, 1.0, dp));
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
  let lse = total.x + log(total.y);
  let big_d = total.z / total.y;

  var acc: array<f32, DIMS_PER_THREAD>;
  for (var c = 0u; c <= last; c += WG) {
    let j = c + t;
    var g = 0.0;
    if (j <= last) {
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < p.head_dim; d++) {
        s += scaled_q[d] * k[j * kv_dim + ko + d];
        dp += d_out[d] * v[j * kv_dim + ko + d];
      }
      g = p.scale * exp(s - lse) * (dp - big_d);
    }
    ds[t] = g;
    workgroupBarrier();
    let n = min(WG, last + 1u - c);
    for (var a = 0u; a < DIMS_PER_THREAD; a++) {
      let d = t + a * WG;
      if (d < p.head_dim) {
        var sum = acc[a];
        for (var jj = 0u; jj < n; jj++) {
          sum += ds[jj] * k[(c + jj) * kv_dim + ko + d];
        }
        acc[a] = sum;
      }
    }
    workgroupBarrier(); // ds is read before the next chunk writes it
  }
  for (var a = 0u; a < DIMS_PER_THREAD; a++) {
    let d = t + a * WG;
    if (d < p.head_dim) {
      dq[qo + d] = acc[a];
    }
  }
  if (t == 0u) {
    stats[item] = vec2f(lse, big_d);
  }
}
