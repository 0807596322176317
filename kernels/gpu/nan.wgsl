// NaN-aware helpers, spliced into a shader by the host preprocessor wherever the line
// `//#include nan` appears (kernels/gpu/pipelines.ts, specialize()). One copy for every kernel.
//
// Why bit tests and not `x != x`: WGSL lets an implementation assume no NaN or infinity at run
// time, so comparison-based tests (and max/min/clamp, whose NaN result is unspecified in SPIR-V
// FMax/FMin) may be folded away or return the other operand. Integer tests on the bit pattern
// cannot be. Every helper here returns NaN when an input is NaN: nothing turns NaN into a number.

fn nan_is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn nan_is_finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
// A quiet NaN built at run time from x (a constant NaN is rejected by WGSL's const evaluation).
fn nan_of(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) | 0x7fc00000u); }
// max / min that return NaN when either operand is NaN (IEEE-754 2019 maximum / minimum).
fn nan_max(a: f32, b: f32) -> f32 { return select(select(max(a, b), b, nan_is_nan(b)), a, nan_is_nan(a)); }
fn nan_min(a: f32, b: f32) -> f32 { return select(select(min(a, b), b, nan_is_nan(b)), a, nan_is_nan(a)); }
// ReLU and its mask that keep NaN: relu(NaN) = NaN, relu_grad(NaN, g) = NaN.
fn nan_relu(x: f32) -> f32 { return select(0.0, x, x > 0.0 || nan_is_nan(x)); }
fn nan_relu_grad(x: f32, g: f32) -> f32 { return select(select(0.0, g, x > 0.0), nan_of(x), nan_is_nan(x)); }
// What a dropped (or otherwise zeroed) element becomes: 0, unless it was not finite, then NaN.
fn nan_zeroed(x: f32) -> f32 { return select(nan_of(x), 0.0, nan_is_finite(x)); }
