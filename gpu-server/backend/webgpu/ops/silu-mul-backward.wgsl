// Input gradients of silu-mul.wgsl (σ = σ(g[i])):
//   dg[i] = dm[i] · u[i] · σ · (1 + g[i] · (1 − σ)),   du[i] = dm[i] · g[i] · σ
//   dm, g, u, dg, du [rows·hiddenDim], elementwise
//
// Thread mapping: one invocation per element i = (workgroup_id.x + workgroup_id.y ·
// num_workgroups.x) · WG + local index.

struct Params {
  n: u32,
}

const WG = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dm: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> u: array<f32>;
@group(0) @binding(4) var<storage, read_write> dg: array<f32>;
@group(0) @binding(5) var<storage, read_write> du: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let i = (wid.x + wid.y * groups.x) * WG + t;
  if (i >= p.n) {
    return;
  }
  let gi = g[i];
  let sg = 1.0 / (1.0 + exp(-gi));
  dg[i] = dm[i] * u[i] * sg * (1.0 + gi * (1.0 - sg));
  du[i] = dm[i] * gi * sg;
}
