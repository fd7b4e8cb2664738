// Input gradient of RMSNorm, per row (s_r as in rmsnorm.wgsl):
//   dx[r, j] = s_r · weight[j] · dy[r, j] − s_r³ · x[r, j] / dim · Σ_i dy[r, i] · weight[i] · x[r, i]
//   dy, x, dx [rows, dim], weight [dim]
//
// Thread mapping: one workgroup of WG threads per row r = workgroup_id.x + workgroup_id.y ·
// num_workgroups.x. Thread t accumulates the two row sums (Σ x², Σ dy·weight·x) at i = t,
// t + WG, …; one tree reduction of the pairs in workgroup memory; then thread t writes dx at the
// same i.

struct Params {
  rows: u32,
  dim: u32,
  eps: f32,
}

const WG = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

var<workgroup> partial: array<vec2f, WG>; // (Σ x², Σ dy·weight·x)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let r = wid.x + wid.y * groups.x;
  if (r >= p.rows) {
    return;
  }
  let base = r * p.dim;
  var sums = vec2f(0.0);
  for (var i = t; i < p.dim; i += WG) {
    let xi = x[base + i];
    sums += vec2f(xi * xi, dy[base + i] * weight[i] * xi);
  }
  partial[t] = sums;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (t < stride) {
      partial[t] += partial[t + stride];
    }
    workgroupBarrier();
  }
  let s = 1.0 / sqrt(partial[0].x / f32(p.dim) + p.eps);
  let c = s * s * s * partial[0].y / f32(p.dim);
  for (var i = t; i < p.dim; i += WG) {
    dx[base + i] = s * weight[i] * dy[base + i] - c * x[base + i];
  }
}
