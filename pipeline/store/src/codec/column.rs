//! Column encodings: integers, floats and text, each as blocks of bit-packed integers.
//!
//! The middle layer of the chunk codec. Every column ends as one or more *integer columns*:
//!
//! - **int**: a column-wide factor `g` (the greatest common divisor of the deltas, so that
//!   timestamps a millisecond apart cost bits for milliseconds, not nanoseconds), then blocks of
//!   [`BLOCK`] values. Each block picks the narrower of two modes: *plain* (value minus the
//!   block minimum) or *delta* (difference from the previous value, divided by `g`, minus the
//!   block's smallest difference), and bit-packs the result at the width its range needs.
//! - **float**: the smallest decimal scale `k` in 0..=9 at which every value is an integer
//!   number of `10^-k` that converts back bit for bit (prices on a cent grid take `k = 2`),
//!   stored as an int column; otherwise the raw IEEE bits as an int column.
//! - **text**: a dictionary of the distinct strings, then the codes as an int column.
//!
//! All arithmetic wraps, so any `i64` sequence round-trips exactly.

use super::bitpack::{self, BLOCK};
use super::{CodecError, Reader};
use xlfeed_core::Conditions;

/// Block mode flag: the block holds deltas.
const DELTA: u8 = 0x80;
/// Float column marker: raw IEEE bits follow.
const RAW_FLOAT: u8 = 0xff;
/// Largest decimal scale tried for floats.
const MAX_SCALE: u8 = 9;
/// Floats are scaled only while the scaled integer is exact in an `f64`.
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
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

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Encodes an int column.
pub(crate) fn encode_ints(values: &[i64], out: &mut Vec<u8>) {
    let mut g: u64 = 0;
    for w in values.windows(2) {
        g = gcd(g, w[1].wrapping_sub(w[0]).unsigned_abs());
        if g == 1 {
            break;
        }
    }
    if g == 0 || g > i64::MAX as u64 {
        g = 1;
    }
    put_uvarint(out, g);
    let g = g as i64;
    let mut packed = [0u64; BLOCK];
    for block in values.chunks(BLOCK) {
        let (mut lo, mut hi) = (block[0], block[0]);
        let (mut dlo, mut dhi) = (i64::MAX, i64::MIN);
        for i in 1..block.len() {
            let v = block[i];
            lo = lo.min(v);
            hi = hi.max(v);
            let d = v.wrapping_sub(block[i - 1]) / g;
            dlo = dlo.min(d);
            dhi = dhi.max(d);
        }
        let plain_w = bitpack::bits_needed(hi.wrapping_sub(lo) as u64);
        let delta_w = if block.len() > 1 {
            bitpack::bits_needed(dhi.wrapping_sub(dlo) as u64)
        } else {
            u32::MAX
        };
        if delta_w < plain_w {
            out.push(DELTA | delta_w as u8);
            put_svarint(out, block[0]);
            put_svarint(out, dlo);
            packed[0] = 0;
            for i in 1..block.len() {
                let d = block[i].wrapping_sub(block[i - 1]) / g;
                packed[i] = d.wrapping_sub(dlo) as u64;
            }
            bitpack::pack(&packed[..block.len()], delta_w, out);
        } else {
            out.push(plain_w as u8);
            put_svarint(out, lo);
            for (p, &v) in packed.iter_mut().zip(block) {
                *p = v.wrapping_sub(lo) as u64;
            }
            bitpack::pack(&packed[..block.len()], plain_w, out);
        }
    }
}

/// Decodes an int column block by block.
pub(crate) struct IntDecoder<'a> {
    r: Reader<'a>,
    g: i64,
    left: usize,
    raw: [u64; BLOCK],
    /// The values of the current block.
    pub(crate) buf: [i64; BLOCK],
}

impl<'a> IntDecoder<'a> {
    /// Starts decoding an int column of `rows` values at the reader's position.
    pub(crate) fn new(mut r: Reader<'a>, rows: usize) -> Result<Self, CodecError> {
        let g = r.uvarint()?;
        if g == 0 || g > i64::MAX as u64 {
            return Err(CodecError::Malformed(format!("int column factor {g}")));
        }
        Ok(IntDecoder {
            r,
            g: g as i64,
            left: rows,
            raw: [0; BLOCK],
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
            let first = self.r.svarint()?;
            let dlo = self.r.svarint()?;
            let src = self.r.take(bitpack::packed_len(m, width))?;
            bitpack::unpack(src, width, &mut self.raw, m);
            let step = dlo.wrapping_mul(self.g);
            let g = self.g;
            let mut v = first;
            self.buf[0] = first;
            for i in 1..m {
                v = v.wrapping_add(step.wrapping_add((self.raw[i] as i64).wrapping_mul(g)));
                self.buf[i] = v;
            }
        } else {
            let lo = self.r.svarint()?;
            let src = self.r.take(bitpack::packed_len(m, width))?;
            bitpack::unpack(src, width, &mut self.raw, m);
            for (b, &u) in self.buf[..m].iter_mut().zip(&self.raw[..m]) {
                *b = lo.wrapping_add(u as i64);
            }
        }
        Ok(())
    }
}

fn pow10(k: u8) -> f64 {
    10f64.powi(i32::from(k))
}

fn scaled_exact(v: f64, p: f64) -> bool {
    let s = (v * p).round();
    s.abs() < EXACT_LIMIT && (s / p).to_bits() == v.to_bits()
}

/// Encodes a float column (decimal-scaled when lossless, else raw bits).
pub(crate) fn encode_floats(values: &[f64], out: &mut Vec<u8>) {
    let mut k: u8 = 0;
    let mut p = 1.0;
    'scan: for &v in values {
        while !scaled_exact(v, p) {
            k += 1;
            if k > MAX_SCALE {
                break 'scan;
            }
            p = pow10(k);
        }
    }
    if k > MAX_SCALE {
        out.push(RAW_FLOAT);
        let bits: Vec<i64> = values.iter().map(|v| v.to_bits() as i64).collect();
        encode_ints(&bits, out);
    } else {
        out.push(k);
        let ints: Vec<i64> = values.iter().map(|v| (v * p).round() as i64).collect();
        encode_ints(&ints, out);
    }
}

/// Decodes a float column block by block.
pub(crate) struct FloatDecoder<'a> {
    ints: IntDecoder<'a>,
    /// `None` for raw bits, else the divisor `10^k`.
    scale: Option<f64>,
    /// The values of the current block.
    pub(crate) buf: [f64; BLOCK],
}

impl<'a> FloatDecoder<'a> {
    /// Starts decoding a float column of `rows` values.
    pub(crate) fn new(mut r: Reader<'a>, rows: usize) -> Result<Self, CodecError> {
        let k = r.u8()?;
        let scale = match k {
            RAW_FLOAT => None,
            0..=MAX_SCALE => Some(pow10(k)),
            _ => return Err(CodecError::Malformed(format!("float scale {k}"))),
        };
        Ok(FloatDecoder {
            ints: IntDecoder::new(r, rows)?,
            scale,
            buf: [0.0; BLOCK],
        })
    }

    /// Decodes the next `m` values.
    pub(crate) fn next_block(&mut self, m: usize) -> Result<(), CodecError> {
        self.ints.next_block(m)?;
        let src = &self.ints.buf[..m];
        match self.scale {
            Some(p) => {
                for (b, &s) in self.buf[..m].iter_mut().zip(src) {
                    *b = s as f64 / p;
                }
            }
            None => {
                for (b, &s) in self.buf[..m].iter_mut().zip(src) {
                    *b = f64::from_bits(s as u64);
                }
            }
        }
        Ok(())
    }
}

/// Encodes a text column as a dictionary plus codes.
pub(crate) fn encode_texts<'s>(values: impl Iterator<Item = &'s str>, out: &mut Vec<u8>) {
    let mut dict: Vec<&str> = Vec::new();
    let mut index: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    let codes: Vec<i64> = values
        .map(|s| {
            *index.entry(s).or_insert_with(|| {
                dict.push(s);
                dict.len() as i64 - 1
            })
        })
        .collect();
    put_uvarint(out, dict.len() as u64);
    for s in &dict {
        put_uvarint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    encode_ints(&codes, out);
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
