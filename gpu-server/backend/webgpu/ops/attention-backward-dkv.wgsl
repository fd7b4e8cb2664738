// Backward of attention.wgsl, second of two dispatches: the key and value gradients, from the
// statistics (lse, D) of attention-backward-dq.wgsl. For key j of kv head g, over the query rows
// that see it (pos0 + r ≥ j) and the heads h of g's group, with s = scale · q[r, h]·k[j, g],
// p = exp(s − lse[r, h]) and dp = dOut[r, h]·v[j, g]:
//   dv[j, g] = Σ_{r, h} p · dOut[r, h]
//   dk[j, g] = Σ_{r, h} scale · p · (dp − D[r, h]) · q[r, h]
//   dOut, q [rows, nHeads·headDim]; k, v [≥ pos0+rows, nKvHeads·headDim]; dk, dv [pos0+rows, nKvHeads·headDim]
//
// Thread mapping: one workgroup of WG threads per (key j, kv head g), item = j·nKvHeads + g =
// workgroup_id.x + workgroup_id.y · num_workgroups.x, so each gradient element has one writer and
// no atomics are needed. The workgroup walks its (row, head) pairs WG at a time: thread t computes
// p and ds = scale·p·(dp − D) of pair c + t into workgroup memory, then adds the chunk's p·dOut
// and ds·q to the dv and dk dims it owns, d = t, t + WG, ….

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

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dOut: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read> stats: array<vec2f>;
@group(0) @binding(6) var<storage, read_write> dk: array<f32>;
@group(0) @binding(7) var<storage, read_write> dv: array<f32>;

var<workgroup> key: array<f32, MAX_HEAD_DIM>;
var<workgroup> value: array<f32, MAX_HEAD_DIM>;
var<workgroup> probs: array<f32, WG>;
var<workgroup> ds: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let item = wid.x + wid.y * groups.x;
  if (item >= (p.pos0 + p.rows) * p.n_kv_heads) {
    return;
  }
  let j = item / p.n_kv_heads;
  let g = item % p.n_kv_heads;
  let group = p.n_heads / p.n_kv_heads;
  let q_dim = p.n_heads * p.head_dim;
  let ko = item * p.head_dim; // = j·kvDim + g·headDim
  for (var d = t; d < p.head_dim; d += WG) {
    key[d] = k[ko + d];
    value[d] = v[ko + d];
  }
  workgroupBarrier();

  let first_row = select(0u, j - p.pos0, j > p.pos0);
  let pairs = (p.rows - first_row) * group; // pair i: row first_row + i / group, head g·group + i % group
  var acc_k: array<f32, DIMS_PER_THREAD>;
  var acc_v: array<f32, DIMS_PER_THREAD>;
  for (var c = 0u; c < pairs; c += WG) {
    let i = c + t;
    var prob = 0.0;
    var g_s = 0.0;
    if (i < pairs) {
      let row_head = (first_row + i / group) * p.n_heads + g * group + i % group;
      let qo = row_head * p.head_dim;
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < p.head_dim; d++) {
        s += (q[qo + d] * p.scale) * key[d];
        dp += dOut[qo + d] * value[d];
      }
      let stat = stats[row_head];
      prob = exp(s - stat.x);
      g_s = p.scale * prob * (dp - stat.y);
    }
    probs[t] = prob;
    ds[t] = g_s;
    workgroupBarrier();
    let n = min(WG, pairs - c);
    for (var a = 0u; a < DIMS_PER_THREAD; a++) {
      let d = t + a * WG;
      if (d < p.head_dim) {
        var sum_k = acc_k[a];
        var sum_v = acc_v[a];
        for (var ii = 0u; ii < n; ii++) {
          let pair = c + ii;
          let qo = ((first_row + pair / group) * p.n_heads + g * group + pair % group) * p.head_dim;
          sum_v += probs[ii] * dOut[qo + d];
          sum_k += ds[ii] * q[qo + d];
        }
        acc_k[a] = sum_k;
        acc_v[a] = sum_v;
      }
    }
    workgroupBarrier(); // probs and ds are read before the next chunk writes them
  }
  for (var a = 0u; a < DIMS_PER_THREAD; a++) {
    let d = t + a * WG;
    if (d < p.head_dim) {
      dk[ko + d] = acc_k[a];
      dv[ko + d] = acc_v[a];
    }
  }
}
