// SwiGLU's gate: m[i] = silu(g[i]) · u[i], silu(g) = g · σ(g), σ(g) = 1 / (1 + exp(−g))
//   g, u, m [rows·hiddenDim], elementwise
//
// Thread mapping: one invocation per element i = (workgroup_id.x + workgroup_id.y ·
// num_workgroups.x) · WG + local index (the grid is two-dimensional past 65535 workgroups).

struct Params {
  n: u32,
}

const WG = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let i = (wid.x + wid.y * groups.x) * WG + t;
  if (i >= p.n) {
    return;
  }
  let gi = g[i];
  m[i] = gi / (1.0 + exp(-gi)) * u[i];
}
