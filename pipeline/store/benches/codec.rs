//! Criterion benchmarks of the chunk codec (filled in below).
fn main() {}
