//! Column encodings: integers, floats and text, each as blocks of bit-packed integers.
//!
//! The middle layer of the chunk codec. Columns are written and read one block of [`BLOCK`]
//! rows at a time, so encoding streams over the rows once, in cache, with no column-sized
//! buffers. Every column ends as blocks of integers:
//!
//! - **int block**: a head byte (bit 7: delta mode; bits 0-6: bit width). *Plain* mode stores
//!   the block minimum and each value minus it. *Delta* mode stores a factor code (the largest
//!   of 10^9, 10^6, 10^3 or 1 dividing every difference, so timestamps a millisecond apart cost
//!   bits for milliseconds, not nanoseconds), the first value, the smallest difference over the
//!   factor, and each difference over the factor minus that smallest one. The encoder picks the
//!   narrower mode per block, then bit-packs at the width the block's range needs.
//! - **float block**: a scale byte `k`, the smallest in 0..=9 at which every value of the block
//!   is an integer number of `10^-k` that converts back bit for bit (prices on a cent grid take
//!   `k = 2`), then those integers as an int block; or 255 and the raw IEEE bits.
//! - **text column**: a dictionary of the distinct strings, then the codes as int blocks.
//!
//! All integer arithmetic wraps, so any `i64` sequence round-trips exactly.

use super::bitpack::{self, BLOCK};
use super::{CodecError, Reader};
use xlfeed_core::Conditions;

/// Block mode flag: the block holds deltas.
const DELTA: u8 = 0x80;
/// Float column marker: raw IEEE bits follow.
const RAW_FLOAT: u8 = 0xff;
/// Largest decimal scale tried for floats.
const MAX_SCALE: u8 = 9;
/// The bit pattern that stands for `None` in an optional float column: a quiet NaN with a
/// payload no arithmetic produces.
const NONE_BITS: u64 = 0x7ff8_dead_0000_0001;

/// Writes an unsigned LEB128 varint.
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Writes a zigzag-encoded signed varint.
pub(crate) fn put_svarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// The factors a delta block can be divided by, by code.
const FACTORS: [i64; 4] = [1, 1_000, 1_000_000, 1_000_000_000];

/// The code of the largest factor that divides every difference of the block. (Constant
/// divisors compile to multiplications, which keeps this pass cheap.)
fn factor_code(block: &[i64]) -> u8 {
    let mut code = 3u8;
    for w in block.windows(2) {
        let d = w[1].wrapping_sub(w[0]);
        loop {
            let divides = match code {
                3 => d % 1_000_000_000 == 0,
                2 => d % 1_000_000 == 0,
                1 => d % 1_000 == 0,
                _ => return 0,
            };
            if divides {
                break;
            }
            code -= 1;
        }
    }
    code
}

/// One pass over a block: the differences over `G` into `deltas[1..]`, and the ranges of the
/// values and of those differences.
#[inline(always)]
fn analyze<const G: i64>(block: &[i64], deltas: &mut [i64; BLOCK]) -> (i64, i64, i64, i64) {
    let (mut lo, mut hi) = (block[0], block[0]);
    let (mut dlo, mut dhi) = (i64::MAX, i64::MIN);
    for (w, d) in block.windows(2).zip(deltas[1..].iter_mut()) {
        let v = w[1];
        *d = v.wrapping_sub(w[0]) / G;
        lo = lo.min(v);
        hi = hi.max(v);
        dlo = dlo.min(*d);
        dhi = dhi.max(*d);
    }
    (lo, hi, dlo, dhi)
}

/// Writes int columns block by block.
#[derive(Default)]
pub(crate) struct IntEncoder {
    out: Vec<u8>,
    packed: Vec<u64>,
}

impl IntEncoder {
    /// Encodes one block of at most [`BLOCK`] values.
    pub(crate) fn push(&mut self, block: &[i64]) {
        let n = block.len();
        if n == 0 {
            return;
        }
        let code = factor_code(block);
        let mut deltas = [0i64; BLOCK];
        let (lo, hi, dlo, dhi) = match code {
            3 => analyze::<1_000_000_000>(block, &mut deltas),
            2 => analyze::<1_000_000>(block, &mut deltas),
            1 => analyze::<1_000>(block, &mut deltas),
            _ => analyze::<1>(block, &mut deltas),
        };
        let plain_w = bitpack::bits_needed(hi.wrapping_sub(lo) as u64);
        let delta_w = if n > 1 {
            bitpack::bits_needed(dhi.wrapping_sub(dlo) as u64)
        } else {
            u32::MAX
        };
        self.packed.clear();
        let out = &mut self.out;
        if delta_w < plain_w {
            out.push(DELTA | delta_w as u8);
            out.push(code);
            put_svarint(out, block[0]);
            put_svarint(out, dlo);
            self.packed.push(0);
            self.packed
                .extend(deltas[1..n].iter().map(|&d| d.wrapping_sub(dlo) as u64));
            bitpack::pack(&self.packed, delta_w, out);
        } else {
            out.push(plain_w as u8);
            put_svarint(out, lo);
            self.packed
                .extend(block.iter().map(|&v| v.wrapping_sub(lo) as u64));
            bitpack::pack(&self.packed, plain_w, out);
        }
    }

    /// The encoded column.
    pub(crate) fn finish(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.out);
    }
}

/// Decodes an int column block by block.
pub(crate) struct IntDecoder<'a> {
    r: Reader<'a>,
    left: usize,
    scratch: bitpack::Scratch,
    /// The values of the current block.
    pub(crate) buf: [i64; BLOCK],
}

impl<'a> IntDecoder<'a> {
    /// Starts decoding an int column of `rows` values at the reader's position.
    pub(crate) fn new(r: Reader<'a>, rows: usize) -> Result<Self, CodecError> {
        Ok(IntDecoder {
            r,
            left: rows,
            scratch: bitpack::Scratch::new(),
            buf: [0; BLOCK],
        })
    }

    /// Decodes the next `m` values (`m` is the block length: [`BLOCK`] or the remainder).
    pub(crate) fn next_block(&mut self, m: usize) -> Result<(), CodecError> {
        if m > self.left || m > BLOCK {
            return Err(CodecError::Malformed(
                "int column is shorter than its rows".into(),
            ));
        }
        self.left -= m;
        let head = self.r.u8()?;
        let width = u32::from(head & !DELTA);
        if width > 64 {
            return Err(CodecError::Malformed(format!("bit width {width}")));
        }
        if head & DELTA != 0 {
            let code = self.r.u8()?;
            let g = *FACTORS
                .get(usize::from(code))
                .ok_or_else(|| CodecError::Malformed(format!("delta factor code {code}")))?;
            let first = self.r.svarint()?;
            let dlo = self.r.svarint()?;
            let src = self.r.take(bitpack::packed_len(m, width))?;
            let step = dlo.wrapping_mul(g);
            let finish = bitpack::Finish::Delta { first, step, g };
            bitpack::unpack(src, width, m, &mut self.scratch, finish, &mut self.buf);
        } else {
            let base = self.r.svarint()?;
            let src = self.r.take(bitpack::packed_len(m, width))?;
            let finish = bitpack::Finish::Plain { base };
            bitpack::unpack(src, width, m, &mut self.scratch, finish, &mut self.buf);
        }
        Ok(())
    }
}

fn pow10(k: u8) -> f64 {
    10f64.powi(i32::from(k))
}

/// Adding and subtracting 1.5 * 2^52 rounds a double below 2^51 in magnitude to the nearest
/// integer, in plain float arithmetic (no libm call, and the loop below vectorises).
const ROUNDER: f64 = 6_755_399_441_055_744.0;
/// Magnitude below which [`ROUNDER`] rounds exactly.
const ROUND_LIMIT: f64 = 2_251_799_813_685_248.0; // 2^51

/// Whether every value of the block is stored exactly as an integer number of `1/p`.
fn block_exact(block: &[f64], p: f64) -> bool {
    block.iter().fold(true, |ok, &v| {
        let s = v * p;
        let r = (s + ROUNDER) - ROUNDER;
        ok & (r.abs() < ROUND_LIMIT) & ((r / p).to_bits() == v.to_bits())
    })
}

/// `v * p` rounded as [`block_exact`] rounds it.
#[inline(always)]
fn scaled(v: f64, p: f64) -> i64 {
    ((v * p + ROUNDER) - ROUNDER) as i64
}

/// Writes float columns block by block.
#[derive(Default)]
pub(crate) struct FloatEncoder {
    ints: IntEncoder,
    /// The scale the previous block used: tried first, since a column's scale rarely changes.
    last_k: u8,
}

impl FloatEncoder {
    /// Encodes one block of at most [`BLOCK`] values.
    pub(crate) fn push(&mut self, block: &[f64]) {
        let mut k = self.last_k;
        if k > MAX_SCALE || !block_exact(block, pow10(k)) {
            k = 0;
            while k <= MAX_SCALE && !block_exact(block, pow10(k)) {
                k += 1;
            }
        }
        self.last_k = k;
        let p = pow10(k.min(MAX_SCALE));
        let mut ints = [0i64; BLOCK];
        if k > MAX_SCALE {
            self.ints.out.push(RAW_FLOAT);
            for (i, v) in ints.iter_mut().zip(block) {
                *i = v.to_bits() as i64;
            }
        } else {
            self.ints.out.push(k);
            for (i, &v) in ints.iter_mut().zip(block) {
                *i = scaled(v, p);
            }
        }
        self.ints.push(&ints[..block.len()]);
    }

    /// The encoded column.
    pub(crate) fn finish(self, out: &mut Vec<u8>) {
        self.ints.finish(out);
    }
}

/// Decodes a float column block by block.
pub(crate) struct FloatDecoder<'a> {
    ints: IntDecoder<'a>,
    /// The values of the current block.
    pub(crate) buf: [f64; BLOCK],
}

impl<'a> FloatDecoder<'a> {
    /// Starts decoding a float column of `rows` values.
    pub(crate) fn new(r: Reader<'a>, rows: usize) -> Result<Self, CodecError> {
        Ok(FloatDecoder {
            ints: IntDecoder::new(r, rows)?,
            buf: [0.0; BLOCK],
        })
    }

    /// Decodes the next `m` values.
    pub(crate) fn next_block(&mut self, m: usize) -> Result<(), CodecError> {
        let k = self.ints.r.u8()?;
        self.ints.next_block(m)?;
        let src = &self.ints.buf[..m];
        match k {
            RAW_FLOAT => {
                for (b, &s) in self.buf[..m].iter_mut().zip(src) {
                    *b = f64::from_bits(s as u64);
                }
            }
            0..=MAX_SCALE => {
                let p = pow10(k);
                for (b, &s) in self.buf[..m].iter_mut().zip(src) {
                    *b = s as f64 / p;
                }
            }
            _ => return Err(CodecError::Malformed(format!("float scale {k}"))),
        }
        Ok(())
    }
}

/// Writes text columns block by block: codes as they come, the dictionary at the end.
#[derive(Default)]
pub(crate) struct TextEncoder<'s> {
    dict: Vec<&'s str>,
    index: std::collections::HashMap<&'s str, i64>,
    codes: IntEncoder,
}

impl<'s> TextEncoder<'s> {
    /// Encodes one block of at most [`BLOCK`] strings.
    pub(crate) fn push(&mut self, block: impl Iterator<Item = &'s str>) {
        let mut codes = [0i64; BLOCK];
        let mut n = 0;
        for (c, s) in codes.iter_mut().zip(block) {
            *c = *self.index.entry(s).or_insert_with(|| {
                self.dict.push(s);
                self.dict.len() as i64 - 1
            });
            n += 1;
        }
        self.codes.push(&codes[..n]);
    }

    /// The encoded column: the dictionary, then the codes.
    pub(crate) fn finish(self, out: &mut Vec<u8>) {
        put_uvarint(out, self.dict.len() as u64);
        for s in &self.dict {
            put_uvarint(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        self.codes.finish(out);
    }
}

/// Decodes a text column block by block.
pub(crate) struct TextDecoder<'a> {
    dict: Vec<String>,
    codes: IntDecoder<'a>,
}

impl<'a> TextDecoder<'a> {
    /// Starts decoding a text column of `rows` values.
    pub(crate) fn new(mut r: Reader<'a>, rows: usize) -> Result<Self, CodecError> {
        let n = r.uvarint()?;
        if n > r.remaining() as u64 {
            return Err(CodecError::Malformed(format!("dictionary of {n} entries")));
        }
        let mut dict = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let len = r.uvarint()?;
            let bytes = r.take(usize::try_from(len).unwrap_or(usize::MAX))?;
            let s = std::str::from_utf8(bytes)
                .map_err(|_| CodecError::Malformed("dictionary entry is not UTF-8".into()))?;
            dict.push(s.to_owned());
        }
        Ok(TextDecoder {
            dict,
            codes: IntDecoder::new(r, rows)?,
        })
    }

    /// Decodes the next `m` codes.
    pub(crate) fn next_block(&mut self, m: usize) -> Result<(), CodecError> {
        self.codes.next_block(m)
    }

    /// The string of row `i` of the current block.
    pub(crate) fn get(&self, i: usize) -> Result<String, CodecError> {
        let code = self.codes.buf[i];
        usize::try_from(code)
            .ok()
            .and_then(|c| self.dict.get(c))
            .cloned()
            .ok_or_else(|| CodecError::Malformed(format!("dictionary code {code}")))
    }
}

/// A field type stored in an int column.
pub(crate) trait IntField: Sized {
    /// The stored integer.
    fn to_int(&self) -> i64;
    /// Back from the stored integer; `None` if it is not a valid value.
    fn from_int(v: i64) -> Option<Self>;
}

impl IntField for i64 {
    fn to_int(&self) -> i64 {
        *self
    }
    #[inline(always)]
    fn from_int(v: i64) -> Option<Self> {
        Some(v)
    }
}

impl IntField for i32 {
    fn to_int(&self) -> i64 {
        i64::from(*self)
    }
    #[inline(always)]
    fn from_int(v: i64) -> Option<Self> {
        i32::try_from(v).ok()
    }
}

impl IntField for u32 {
    fn to_int(&self) -> i64 {
        i64::from(*self)
    }
    #[inline(always)]
    fn from_int(v: i64) -> Option<Self> {
        u32::try_from(v).ok()
    }
}

impl IntField for char {
    fn to_int(&self) -> i64 {
        i64::from(u32::from(*self))
    }
    #[inline(always)]
    fn from_int(v: i64) -> Option<Self> {
        u32::try_from(v).ok().and_then(char::from_u32)
    }
}

/// A right is stored as its OCC letter's code (`C` 67, `P` 80), as when it was a `char`.
impl IntField for xlfeed_core::Right {
    fn to_int(&self) -> i64 {
        i64::from(u32::from(self.as_char()))
    }
    #[inline(always)]
    fn from_int(v: i64) -> Option<Self> {
        u32::try_from(v)
            .ok()
            .and_then(char::from_u32)
            .filter(char::is_ascii_uppercase)
            .and_then(xlfeed_core::Right::from_char)
    }
}

impl IntField for Conditions {
    fn to_int(&self) -> i64 {
        self.to_bits() as i64
    }
    #[inline(always)]
    fn from_int(v: i64) -> Option<Self> {
        Conditions::from_bits(v as u64)
    }
}

/// A field type stored in a float column.
pub(crate) trait FloatField: Sized {
    /// The stored float.
    fn to_float(&self) -> f64;
    /// Back from the stored float.
    fn from_float(v: f64) -> Self;
}

impl FloatField for f64 {
    fn to_float(&self) -> f64 {
        *self
    }
    #[inline(always)]
    fn from_float(v: f64) -> Self {
        v
    }
}

impl FloatField for Option<f64> {
    fn to_float(&self) -> f64 {
        self.unwrap_or(f64::from_bits(NONE_BITS))
    }
    #[inline(always)]
    fn from_float(v: f64) -> Self {
        (v.to_bits() != NONE_BITS).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode_ints(values: &[i64], out: &mut Vec<u8>) {
        let mut e = IntEncoder::default();
        values.chunks(BLOCK).for_each(|b| e.push(b));
        e.finish(out);
    }

    fn encode_floats(values: &[f64], out: &mut Vec<u8>) {
        let mut e = FloatEncoder::default();
        values.chunks(BLOCK).for_each(|b| e.push(b));
        e.finish(out);
    }

    fn ints_round_trip(values: &[i64]) -> Vec<i64> {
        let mut buf = Vec::new();
        encode_ints(values, &mut buf);
        let mut d = IntDecoder::new(Reader::new(&buf), values.len()).unwrap();
        let mut out = Vec::new();
        for c in values.chunks(BLOCK) {
            d.next_block(c.len()).unwrap();
            out.extend_from_slice(&d.buf[..c.len()]);
        }
        out
    }

    fn floats_round_trip(values: &[f64]) -> (Vec<f64>, usize) {
        let mut buf = Vec::new();
        encode_floats(values, &mut buf);
        let mut d = FloatDecoder::new(Reader::new(&buf), values.len()).unwrap();
        let mut out = Vec::new();
        for c in values.chunks(BLOCK) {
            d.next_block(c.len()).unwrap();
            out.extend_from_slice(&d.buf[..c.len()]);
        }
        (out, buf.len())
    }

    #[test]
    fn extreme_ints_round_trip() {
        let v = vec![i64::MIN, i64::MAX, 0, -1, i64::MIN, 1, i64::MAX, i64::MAX];
        assert_eq!(ints_round_trip(&v), v);
    }

    #[test]
    fn millisecond_timestamps_pack_small() {
        let t0 = 1_704_205_800_000_000_000i64;
        let v: Vec<i64> = (0..10_000)
            .map(|i| t0 + i * 3_000_000 + (i % 7) * 1_000_000)
            .collect();
        let mut buf = Vec::new();
        encode_ints(&v, &mut buf);
        assert!(buf.len() < 10_000, "{} bytes", buf.len());
        assert_eq!(ints_round_trip(&v), v);
    }

    #[test]
    fn cent_prices_scale_by_100() {
        let v: Vec<f64> = (0..1000)
            .map(|i| 185.0 + f64::from(i % 50) * 0.01)
            .collect();
        let (out, len) = floats_round_trip(&v);
        assert_eq!(out, v);
        assert!(len < 1000, "{len} bytes");
    }

    #[test]
    fn awkward_floats_round_trip_bit_for_bit() {
        let v = vec![
            0.1,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            1e300,
            f64::MIN_POSITIVE,
            0.3,
        ];
        let (out, _) = floats_round_trip(&v);
        let a: Vec<u64> = v.iter().map(|x| x.to_bits()).collect();
        let b: Vec<u64> = out.iter().map(|x| x.to_bits()).collect();
        assert_eq!(a, b);
    }

    proptest! {
        #[test]
        fn any_ints_round_trip(v in proptest::collection::vec(any::<i64>(), 0..700)) {
            prop_assert_eq!(ints_round_trip(&v), v);
        }

        #[test]
        fn small_steps_round_trip(start in any::<i64>(), steps in proptest::collection::vec(-1000i64..1000, 0..700)) {
            let v: Vec<i64> = steps.iter().scan(start, |s, d| { *s = s.wrapping_add(*d * 1000); Some(*s) }).collect();
            prop_assert_eq!(ints_round_trip(&v), v);
        }

        #[test]
        fn any_floats_round_trip(v in proptest::collection::vec(any::<f64>(), 0..600)) {
            let (out, _) = floats_round_trip(&v);
            let a: Vec<u64> = v.iter().map(|x| x.to_bits()).collect();
            let b: Vec<u64> = out.iter().map(|x| x.to_bits()).collect();
            prop_assert_eq!(a, b);
        }

        #[test]
        fn decimal_floats_round_trip(v in proptest::collection::vec(-10_000_000i64..10_000_000, 0..600), k in 0u32..6) {
            let p = 10f64.powi(k as i32);
            let v: Vec<f64> = v.iter().map(|&x| x as f64 / p).collect();
            let (out, _) = floats_round_trip(&v);
            prop_assert_eq!(out, v);
        }
    }
}
