// Forward of a frozen weight group for a single row (decoding one token):
//   y[o] = Σ_k x[k] · W[o, k] + b[o]        x [in], W [out, in] as stored, y [out]
// (b is a zero vector for groups without a bias.)
//
// Thread mapping: one workgroup of WG threads per output o, o = workgroup_id.x +
// workgroup_id.y · num_workgroups.x (the grid is two-dimensional when out > 65535, e.g. a large
// vocabulary). Thread t sums the products at k = t, t + WG, t + 2·WG, … — the workgroup reads
// W's row o contiguously, which the tiled kernel would spread over TILE mostly idle rows —,
// then a tree reduction in workgroup memory folds the WG partial sums; thread 0 writes y[o].
// Accumulation is f32; W may be stored as f16.
// A group too large for one storage binding is split by output rows into chunks, one buffer
// and one dispatch each: y_offset and y_stride place a chunk's outputs within the group's.

alias weight_t = f32;

struct Params {
  rows: u32,
  in_dim: u32,
  out_dim: u32, // this chunk's outputs (rows of W in this buffer)
  y_stride: u32, // the whole group's outputs: the row stride of y (or dy)
  y_offset: u32, // this chunk's first output within the group
  accumulate: u32, // backward: 1 adds into dx (a later chunk), 0 writes it
  _pad0: u32,
  _pad1: u32,
}

const WG = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<weight_t>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let o = wid.x + wid.y * groups.x;
  if (o >= p.out_dim) {
    return;
  }
  let base = o * p.in_dim;
  var acc = 0.0;
  for (var k = t; k < p.in_dim; k += WG) {
    acc += x[k] * f32(w[base + k]);
  }
  partial[t] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (t < stride) {
      partial[t] += partial[t + stride];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    y[p.y_offset + o] = partial[0] + bias[o];
  }
}
