// Input gradient of a frozen weight group (never a weight gradient: the base is frozen):
//   dx[r, k] = Σ_o dy[r, o] · W[o, k]        dy [rows, out], W [out, in] as stored, dx [rows, in]
//
// Thread mapping: a TILE×TILE workgroup computes the tile rows [row0, row0 + TILE) ×
// inputs [k0, k0 + TILE), with row0 = workgroup_id.y·TILE and k0 = workgroup_id.x·TILE;
// thread (lx, ly) owns dx[row0 + ly, k0 + lx]. The o axis (the reduction) is walked TILE at a
// time: each thread loads ds[ly][lx] = dy[row0 + ly, o0 + lx] and ws[ly][lx] = W[o0 + ly, k0 + lx]
// into workgroup memory — W is read untransposed, along k, contiguous in memory —, then adds
// TILE products ds[ly][j] · ws[j][lx]. Out-of-range elements load as 0. Accumulation is f32;
// W may be stored as f16. Binding 2 (the bias) belongs to the shared layout and is unused here.
// A group too large for one storage binding is split by output rows into chunks, one buffer and
// one dispatch each: a chunk reads its columns of dy (y_offset, y_stride) and the first chunk
// writes dx, the later ones add to it — dx = Σ_chunks dy[:, chunk] · W_chunk.

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

const TILE = 16u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<weight_t>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

var<workgroup> ds: array<array<f32, TILE>, TILE>;
var<workgroup> ws: array<array<f32, TILE>, TILE>;

@compute @workgroup_size(TILE, TILE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = wid.y * TILE;
  let k0 = wid.x * TILE;
  let row = row0 + lid.y;
  let k = k0 + lid.x;
  var acc = 0.0;
  for (var o0 = 0u; o0 < p.out_dim; o0 += TILE) {
    let o_dy = o0 + lid.x;
    var dv = 0.0;
    if (row < p.rows && o_dy < p.out_dim) {
      dv = dy[row * p.y_stride + p.y_offset + o_dy];
    }
    let o_w = o0 + lid.y;
    var wv = 0.0;
    if (o_w < p.out_dim && k < p.in_dim) {
      wv = f32(w[o_w * p.in_dim + k]);
    }
    ds[lid.y][lid.x] = dv;
    ws[lid.y][lid.x] = wv;
    workgroupBarrier();
    for (var j = 0u; j < TILE; j++) {
      acc += ds[lid.y][j] * ws[j][lid.x];
    }
    workgroupBarrier();
  }
  if (row < p.rows && k < p.in_dim) {
    let i = row * p.in_dim + k;
    if (p.accumulate != 0u) {
      dx[i] += acc;
    } else {
      dx[i] = acc;
    }
  }
}
