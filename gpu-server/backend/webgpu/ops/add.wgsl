// Residual connection: out[i] = a[i] + b[i]      a, b, out [n], elementwise
//
// Thread mapping: one invocation per element i = (workgroup_id.x + workgroup_id.y ·
// num_workgroups.x) · WG + local index. out must not alias a or b (WebGPU forbids a buffer bound
// both read-only and writable in one dispatch).

struct Params {
  n: u32,
}

const WG = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let i = (wid.x + wid.y * groups.x) * WG + t;
  if (i >= p.n) {
    return;
  }
  out[i] = a[i] + b[i];
}
