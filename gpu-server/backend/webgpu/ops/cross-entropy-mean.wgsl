// Cross-entropy, second of two dispatches: the masked mean of cross-entropy.wgsl's row losses.
//   loss[0] = Σ_r rowLoss[r] / count,  count = Σ_r mask[r]   (0 when count is 0)
//   rowLoss, mask [rows]; loss [1]
//
// Thread mapping: a single workgroup of WG threads. Thread t sums the rows r = t, t + WG, … (loss
// and mask together); one tree reduction; thread 0 writes the mean.

struct Params {
  rows: u32,
}

const WG = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rowLoss: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;

var<workgroup> partial: array<vec2f, WG>; // (Σ loss, Σ mask)

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32) {
  var own = vec2f(0.0);
  for (var r = t; r < p.rows; r += WG) {
    own += vec2f(rowLoss[r], f32(mask[r] != 0u));
  }
  partial[t] = own;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (t < stride) {
      partial[t] += partial[t + stride];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    loss[0] = select(0.0, partial[0].x / partial[0].y, partial[0].y > 0.0);
  }
}
