// Column block copy: dst[r, dstCol + c] = src[r, srcCol + c]   r < rows, c < width
// src [rows, srcStride], dst [rows, dstStride], row-major. What splits a fused group's output
// ([rows, q | k | v]) into its modules, and joins their gradients back, in one dispatch per part
// instead of a buffer copy per row and part.
//
// Thread mapping: one invocation per copied element i = (workgroup_id.x + workgroup_id.y ·
// num_workgroups.x) · WG + local index, r = i / width, c = i % width. dst must not alias src.

struct Params {
  rows: u32,
  width: u32,
  srcStride: u32,
  srcCol: u32,
  dstStride: u32,
  dstCol: u32,
}

const WG = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let i = (wid.x + wid.y * groups.x) * WG + t;
  if (i >= p.rows * p.width) {
    return;
  }
  let r = i / p.width;
  let c = i % p.width;
  dst[r * p.dstStride + p.dstCol + c] = src[r * p.srcStride + p.srcCol + c];
}
