//! Bit packing of blocks of up to [`BLOCK`] unsigned integers at a fixed width.
//!
//! The bottom layer of the chunk codec: a block of `n` values of `w` bits takes
//! `ceil(n * w / 8)` bytes, least significant bit first. Unpacking is specialised per width
//! (a const generic) and works eight values at a time, so the compiler turns each width into
//! straight-line shifts and masks; that is where the decode speed comes from.

/// Values per block.
pub(crate) const BLOCK: usize = 256;

/// Bytes needed to pack `n` values of `width` bits.
pub(crate) fn packed_len(n: usize, width: u32) -> usize {
    (n * width as usize).div_ceil(8)
}

/// Number of bits needed to hold `v` (0 for 0).
pub(crate) fn bits_needed(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Appends `values`, each below `2^width`, packed at `width` bits.
///
/// Bits gather in a 128-bit accumulator and leave it eight bytes at a time, so every output
/// byte is written once (a read-modify-write per value would stall on store forwarding).
pub(crate) fn pack(values: &[u64], width: u32, out: &mut Vec<u8>) {
    if width == 0 {
        return;
    }
    let end = out.len() + packed_len(values.len(), width);
    out.reserve(end - out.len() + 8);
    let mut acc: u128 = 0;
    let mut bits: u32 = 0;
    for &v in values {
        acc |= u128::from(v) << bits;
        bits += width;
        if bits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            bits -= 64;
        }
    }
    out.extend_from_slice(&(acc as u64).to_le_bytes());
    out.truncate(end);
}

/// Bytes of the padded scratch space a block is copied into before unpacking, so that the
/// unrolled reads never run off the end of the input.
pub(crate) const SCRATCH: usize = BLOCK * 8 + 16;

/// Scratch space for [`unpack`], reused from block to block. What a previous block left past
/// the current block's bytes is only ever read into the masked-off high bits or into values
/// past `n`, which the caller ignores, so it is never cleared.
pub(crate) struct Scratch(Box<[u8; SCRATCH]>);

impl Scratch {
    /// Zeroed scratch space.
    pub(crate) fn new() -> Scratch {
        Scratch(Box::new([0u8; SCRATCH]))
    }
}

/// How the unpacked unsigned values become the block's integers (all arithmetic wraps).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Finish {
    /// Value `i` is `base + u[i]`.
    Plain {
        /// The block minimum.
        base: i64,
    },
    /// A running sum: value 0 is `first` (its `u` is 0), value `i` is value `i - 1` plus
    /// `step + u[i] * g`.
    Delta {
        /// The first value.
        first: i64,
        /// The smallest difference times the factor.
        step: i64,
        /// The factor.
        g: i64,
    },
}

/// Unpacks `n` (at most [`BLOCK`]) values of `width` bits from `src` and finishes them into
/// `out[..n]` in the same pass (`out[n..]` receives garbage).
///
/// `src` must hold at least `packed_len(n, width)` bytes (the caller checks).
pub(crate) fn unpack(
    src: &[u8],
    width: u32,
    n: usize,
    scratch: &mut Scratch,
    finish: Finish,
    out: &mut [i64; BLOCK],
) {
    debug_assert!(n <= BLOCK && width <= 64);
    let len = packed_len(n, width).min(src.len());
    let scratch = &mut *scratch.0;
    scratch[..len].copy_from_slice(&src[..len]);
    macro_rules! dispatch {
        ($($w:literal)*) => {
            match width {
                $($w => finish_block(out, finish, |i| extract::<$w>(scratch, i)),)*
                _ => finish_block(out, finish, |i| extract_wide(scratch, width as usize, i)),
            }
        };
    }
    dispatch!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28
        29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56);
}

/// Value `i` of a block packed at a width of at most 56 bits: it lies within one unaligned
/// 8-byte read, and with `W` a constant the shifts and masks are constants too.
#[inline(always)]
fn extract<const W: usize>(src: &[u8; SCRATCH], i: usize) -> u64 {
    let bit = i * W;
    let off = bit / 8;
    let mut word = [0u8; 8];
    word.copy_from_slice(&src[off..off + 8]);
    (u64::from_le_bytes(word) >> (bit % 8)) & ((1u64 << W) - 1)
}

/// Value `i` of a block packed at a width of 57..=64 bits, with a 16-byte read.
#[inline(always)]
fn extract_wide(src: &[u8; SCRATCH], w: usize, i: usize) -> u64 {
    let bit = i * w;
    let off = bit / 8;
    let mut word = [0u8; 16];
    word.copy_from_slice(&src[off..off + 16]);
    ((u128::from_le_bytes(word) >> (bit % 8)) & ((1u128 << w) - 1)) as u64
}

#[inline(always)]
fn finish_block(out: &mut [i64; BLOCK], finish: Finish, get: impl Fn(usize) -> u64) {
    match finish {
        Finish::Plain { base } => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = base.wrapping_add(get(i) as i64);
            }
        }
        Finish::Delta { first, step, g } => {
            let mut acc = first.wrapping_sub(step);
            for (i, o) in out.iter_mut().enumerate() {
                acc = acc.wrapping_add(step.wrapping_add((get(i) as i64).wrapping_mul(g)));
                *o = acc;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pack_unpack_round_trip(width in 0u32..=64, n in 0usize..=BLOCK, seed in any::<u64>()) {
            let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
            let mut x = seed | 1;
            let values: Vec<u64> = (0..n).map(|_| {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                x & mask
            }).collect();
            let mut buf = Vec::new();
            pack(&values, width, &mut buf);
            prop_assert_eq!(buf.len(), packed_len(n, width));
            let mut out = [0i64; BLOCK];
            let mut scratch = Scratch::new();
            // Dirty scratch space must not change the result.
            scratch.0.fill(0xa5);
            unpack(&buf, width, n, &mut scratch, Finish::Plain { base: 0 }, &mut out);
            let got: Vec<u64> = out[..n].iter().map(|&v| v as u64).collect();
            prop_assert_eq!(&got[..], &values[..]);
        }
    }

    #[test]
    fn bits_needed_edges() {
        assert_eq!(bits_needed(0), 0);
        assert_eq!(bits_needed(1), 1);
        assert_eq!(bits_needed(255), 8);
        assert_eq!(bits_needed(u64::MAX), 64);
    }
}
