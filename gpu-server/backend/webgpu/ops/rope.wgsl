// Rotary position embedding (Hugging Face Llama's rotate_half: dim i pairs with i + half) of rows
// at positions pos0, pos0 + 1, …, and its backward (the transposed rotation) with sign = −1:
//   y[r, h, i]        = x[r, h, i] · cos − x[r, h, i + half] · sign·sin
//   y[r, h, i + half] = x[r, h, i + half] · cos + x[r, h, i] · sign·sin
//   cos, sin of (pos0 + r) · theta^(−2i/headDim), i < half = headDim / 2
//   x, y [rows, nHeads·headDim]; table [positions, half] of (cos, sin)
// The angles come from a table computed on the host in float64: in f32 the angle pos·freq alone
// loses ~1e-4 at position 2000, and GPU sin/cos are only accurate to ~2^-11 (Vulkan's bound).
//
// Thread mapping: one invocation per rotated pair (r, h, i), numbered idx = (r·nHeads + h)·half
// + i; workgroups of WG along a grid that is two-dimensional past 65535 workgroups. y must not
// alias x.

struct Params {
  rows: u32,
  n_heads: u32,
  head_dim: u32,
  pos0: u32,
  sign: f32,
}

const WG = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<vec2f>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) t: u32) {
  let idx = (wid.x + wid.y * groups.x) * WG + t;
  let half = p.head_dim / 2u;
  if (idx >= p.rows * p.n_heads * half) {
    return;
  }
  let i = idx % half;
  let row_head = idx / half; // r·nHeads + h
  let r = row_head / p.n_heads;
  let angle = table[(p.pos0 + r) * half + i];
  let c = angle.x;
  let s = p.sign * angle.y;
  let o = row_head * p.head_dim;
  let x1 = x[o + i];
  let x2 = x[o + i + half];
  y[o + i] = x1 * c - x2 * s;
  y[o + i + half] = x2 * c + x1 * s;
}
