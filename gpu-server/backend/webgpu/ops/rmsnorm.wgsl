// RMSNorm of each row:
//   y[r, i] = x[r, i] · s_r · weight[i],   s_r = 1 / sqrt(Σ_i x[r, i]² / dim + eps)
//   x, y [rows, dim], weight [dim]
//
// Thread mapping: one workgroup of WG threads per row r = workgroup_id.x + workgroup_id.y ·
// num_workgroups.x (a two-dimensional grid past 65535 rows). Thread t sums x² at i = t, t + WG, …
// (the workgroup reads the row contiguously), a tree reduction in workgroup memory folds the WG
// partial sums, then thread t writes y at the same i.

struct Params {
  rows: u32,
  dim: u32,
  eps: f32,
}

const WG = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let r = wid.x + wid.y * groups.x;
  if (r >= p.rows) {
    return;
  }
  let base = r * p.dim;
  var ss = 0.0;
  for (var i = t; i < p.dim; i += WG) {
    ss += x[base + i] * x[base + i];
  }
  partial[t] = ss;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (t < stride) {
      partial[t] += partial[t + stride];
    }
    workgroupBarrier();
  }
  let s = 1.0 / sqrt(partial[0] / f32(p.dim) + p.eps);
  for (var i = t; i < p.dim; i += WG) {
    y[base + i] = x[base + i] * s * weight[i];
  }
}
