//! Tick lines at speed: a whole buffer of `HTX`/`HTD`/`HTT` reply lines parsed in one pass.
//!
//! A tick reply is millions of lines of one shape. [`parse_tick_lines`] walks a buffer of them
//! once: it checks each line's `<ReqID>,LH,` prefix with one comparison, reads digits eight
//! at a time (SWAR: a `u64` load tells where the digits stop and folds them in three
//! multiplies), and finds the end of the line by parsing up to it, so no separate search for
//! `\n` or `,` is made. Anything unusual (a negative price, a 6.0 line without the aggressor,
//! an extra field, a stray `\r`, a line cut by the end of the buffer) stops the scan before
//! that line; the caller parses it with the field-by-field parser
//! ([`super::history::parse_tick`]), which accepts every valid variant and names what is wrong
//! with an invalid one. A property test checks that both give the same ticks.

use xlfeed_core::Conditions;
use xlfeed_core::records::Trade;

use super::history::Tick;
use super::num::Eastern;

/// `10^n` for the digit counts a run can have.
const POW10_U: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// Powers of ten up to the 15 digits a decimal may have here (all exact in `f64`).
const POW10_F: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Microseconds per unit of the `n`th fraction digit count (`.1` is 100,000 µs).
const MICROS_SCALE: [i64; 7] = [0, 100_000, 10_000, 1_000, 100, 10, 1];

/// The eight bytes at `p` as a little-endian word (the first byte lowest), if there are eight.
#[inline(always)]
fn word(b: &[u8], p: usize) -> Option<u64> {
    let bytes: [u8; 8] = b.get(p..p + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// How many ASCII digits start the word `x` (0 to 8).
#[inline(always)]
fn digit_count(x: u64) -> usize {
    let v = x.wrapping_sub(0x3030_3030_3030_3030);
    // A byte below '0' borrows (its high bit is set after the subtraction); a byte above '9'
    // carries into its high bit when 0x46 is added. Borrows and carries only travel towards
    // later bytes, so the first flagged byte is the first non-digit.
    let flags = (v | x.wrapping_add(0x4646_4646_4646_4646)) & 0x8080_8080_8080_8080;
    (flags.trailing_zeros() / 8) as usize
}

/// The value of the first `n` (1 to 8) bytes of `x`, all ASCII digits.
#[inline(always)]
fn fold(x: u64, n: usize) -> u64 {
    // Keep the n digits, moved to the top bytes; the zero bytes below act as leading zeros.
    let mut v = x.wrapping_sub(0x3030_3030_3030_3030) << (8 * (8 - n));
    v = (v.wrapping_mul(10) + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    (v.wrapping_mul(10_000) + (v >> 32)) & 0xFFFF_FFFF
}

/// The run of ASCII digits (at most eight) at the start of the word `x`: (value, count).
#[inline(always)]
fn digits8(x: u64) -> (u64, usize) {
    match digit_count(x) {
        0 => (0, 0),
        n => (fold(x, n), n),
    }
}

/// The run of digits at `p` (at most 19, which a `u64` holds): (value, count). `None` for a
/// longer run or when the buffer ends within eight bytes of a word read.
#[inline(always)]
fn digits(b: &[u8], p: usize) -> Option<(u64, usize)> {
    let (hi, n) = digits8(word(b, p)?);
    if n < 8 {
        return Some((hi, n));
    }
    let (mid, m) = digits8(word(b, p + 8)?);
    let v = hi * POW10_U[m] + mid;
    if m < 8 {
        return Some((v, 8 + m));
    }
    let (lo, k) = digits8(word(b, p + 16)?);
    (k <= 3).then(|| (v * POW10_U[k] + lo, 16 + k))
}

/// Whether the byte at `p` is `c`.
#[inline(always)]
fn at(b: &[u8], p: usize, c: u8) -> bool {
    b.get(p) == Some(&c)
}

/// An unsigned integer field of at most 18 digits (empty = 0) and its comma: (value, next).
#[inline(always)]
fn uint(b: &[u8], p: usize) -> Option<(i64, usize)> {
    let (v, n) = digits(b, p)?;
    (n <= 18 && at(b, p + n, b',')).then_some((v as i64, p + n + 1))
}

/// A non-negative decimal field (`190.1200`, `100`, `.5`, empty = 0) of at most 15 digits
/// and its comma: (value, next). The value is the one [`super::num::parse_decimal`] gives.
#[inline(always)]
fn decimal(b: &[u8], p: usize) -> Option<(f64, usize)> {
    // The common case, a price of at most eight bytes with its point (`190.0900`): the point
    // is taken out of the word and all its digits are folded at once.
    let x = word(b, p)?;
    let n = digit_count(x);
    if n < 8 && (x >> (8 * n)) & 0xFF == u64::from(b'.') {
        let below = (1u64 << (8 * n)) - 1;
        let joined = (x & below) | ((x >> 8) & !below);
        let k = digit_count(joined);
        let end = p + k + 1;
        if k > n && at(b, end, b',') {
            return Some((fold(joined, k) as f64 / POW10_F[k - n], end + 1));
        }
    }
    decimal_long(b, p)
}

/// [`decimal`] for any other field.
#[inline(never)]
fn decimal_long(b: &[u8], p: usize) -> Option<(f64, usize)> {
    let (int, n) = digits(b, p)?;
    let mut p = p + n;
    let v = if at(b, p, b'.') {
        let (frac, m) = digits(b, p + 1)?;
        if n + m > 15 || n + m == 0 {
            return None;
        }
        p += 1 + m;
        (int * POW10_U[m] + frac) as f64 / POW10_F[m]
    } else if n <= 15 {
        int as f64
    } else {
        return None;
    };
    at(b, p, b',').then_some((v, p + 1))
}

/// `HH:MM:SS` at `p` as seconds since midnight.
#[inline(always)]
fn clock_time(b: &[u8], p: usize) -> Option<i64> {
    let t = b.get(p..p + 8)?;
    if t[2] != b':' || t[5] != b':' {
        return None;
    }
    let d = |i: usize| {
        let v = t[i].wrapping_sub(b'0');
        (v <= 9).then_some(i64::from(v))
    };
    let (h, m, s) = (d(0)? * 10 + d(1)?, d(3)? * 10 + d(4)?, d(6)? * 10 + d(7)?);
    (h <= 23 && m <= 59 && s <= 59).then_some((h * 60 + m) * 60 + s)
}

/// The tick whose fields start at `p`, and the index just past its line's `\n`.
#[inline(always)]
fn tick_at(b: &[u8], p: usize, clock: &mut Eastern) -> Option<(Tick, usize)> {
    // YYYY-MM-DD HH:MM:SS[.ffffff],
    let date = clock.day(b.get(p..p + 10)?)?;
    if !at(b, p + 10, b' ') {
        return None;
    }
    let mut micros = clock_time(b, p + 11)? * 1_000_000;
    let mut p = p + 19;
    if at(b, p, b'.') {
        let (frac, n) = digits(b, p + 1)?;
        if n == 0 || n > 6 {
            return None;
        }
        micros += frac as i64 * MICROS_SCALE[n];
        p += 1 + n;
    }
    if !at(b, p, b',') {
        return None;
    }
    let time = clock.to_utc_ns(date, micros)?;
    let (price, p) = decimal(b, p + 1)?;
    let (size, p) = uint(b, p)?;
    let (total_volume, p) = uint(b, p)?;
    let (bid, p) = decimal(b, p)?;
    let (ask, p) = decimal(b, p)?;
    let (tick_id, n) = digits(b, p)?;
    if n == 0 || !at(b, p + n, b',') {
        return None;
    }
    let p = p + n + 1;
    let (basis, p) = match *b.get(p..p + 2)? {
        [c, b','] if c.is_ascii_alphabetic() => (char::from(c), p + 2),
        [b',', _] => (' ', p + 1),
        _ => return None,
    };
    let (market_center, p) = uint(b, p)?;
    let (conditions, mut p) = conditions(b, p)?;
    let (mut aggressor, mut day_code) = (0, 0);
    if !matches!(b.get(p), Some(b'\r' | b'\n')) {
        let (a, q) = uint(b, p)?;
        let (d, q) = uint(b, q)?;
        (aggressor, day_code, p) = (u8::try_from(a).ok()?, u8::try_from(d).ok()?, q);
    }
    let end = match b.get(p..)? {
        [b'\n', ..] => p + 1,
        [b'\r', b'\n', ..] => p + 2,
        _ => return None,
    };
    let tick = Tick {
        trade: Trade {
            time,
            price,
            size,
            bid,
            ask,
            tick_id: i64::try_from(tick_id).ok()?,
            basis,
            market_center: i32::try_from(market_center).ok()?,
            conditions,
        },
        total_volume,
        aggressor,
        day_code,
    };
    Some((tick, end))
}

/// Trade conditions (two-digit hex codes run together, at most seven) and the comma after.
#[inline(always)]
fn conditions(b: &[u8], p: usize) -> Option<(Conditions, usize)> {
    if at(b, p, b',') {
        return Some((Conditions::NONE, p + 1));
    }
    let mut bits: u64 = 1;
    let mut q = p;
    loop {
        let c = *b.get(q)?;
        if c == b',' {
            break;
        }
        let d = (c as char).to_digit(16)?;
        bits = (bits << 4) | u64::from(d);
        q += 1;
        if q - p > 14 {
            return None;
        }
    }
    if !(q - p).is_multiple_of(2) {
        return None;
    }
    Some((Conditions::from_bits(bits)?, q + 1))
}

/// Parses the tick lines at the start of `buf` that begin with `prefix` (`H42,LH,` for
/// protocol 6.2 with request id `H42`, `H42,` for 6.1), appending their ticks to `out`.
///
/// Returns how many bytes were consumed: whole lines, up to (not including) the first line
/// that does not start with `prefix`, is not complete, or is not in the common shape. The
/// caller handles that line another way (the end of the reply, an error, or
/// [`super::history::parse_tick`]) and may call again after it.
pub fn parse_tick_lines(
    buf: &[u8],
    prefix: &[u8],
    clock: &mut Eastern,
    out: &mut Vec<Tick>,
) -> usize {
    let mut pos = 0;
    while buf.len() - pos > prefix.len() && &buf[pos..pos + prefix.len()] == prefix {
        match tick_at(buf, pos + prefix.len(), clock) {
            Some((tick, end)) => {
                out.push(tick);
                pos = end;
            }
            None => break,
        }
    }
    pos
}

/// The fields of one tick line (no prefix, no line end) through the one-pass parser: `None`
/// when the line is not in the common shape or longer than 240 bytes.
#[inline]
pub(crate) fn parse_tick_fields(fields: &[u8], clock: &mut Eastern) -> Option<Tick> {
    let mut padded = [0u8; 256];
    let n = fields.len();
    if n > 240 {
        return None;
    }
    padded[..n].copy_from_slice(fields);
    padded[n] = b'\n';
    match tick_at(&padded, 0, clock)? {
        (tick, end) if end == n + 1 => Some(tick),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_runs() {
        let w = |s: &[u8]| {
            let mut b = [b'x'; 8];
            b[..s.len()].copy_from_slice(s);
            u64::from_le_bytes(b)
        };
        assert_eq!(digits8(w(b"12345678")), (12_345_678, 8));
        assert_eq!(digits8(w(b"190.12")), (190, 3));
        assert_eq!(digits8(w(b",1")), (0, 0));
        assert_eq!(digits8(w(b"0000001,")), (1, 7));
        assert_eq!(digits8(w(b"9/")), (9, 1));
        assert_eq!(digits8(w(b"9:")), (9, 1));
        let b = b"4012345678,C,\n0000000000000000";
        assert_eq!(digits(b, 0), Some((4_012_345_678, 10)));
        assert_eq!(
            digits(b"1234567890123456789,xxxxxxxxxxxx", 0),
            Some((1_234_567_890_123_456_789, 19))
        );
        assert_eq!(digits(b"12345678901234567890,xxxxxxxxxxx", 0), None);
        assert_eq!(digits(b"12,", 0), None, "fewer than 8 bytes left");
    }

    #[test]
    fn decimals_match_the_reference_parser() {
        for s in [
            "190.1200",
            "0.0001",
            "100",
            ".5",
            "1.",
            "123456789012.345",
            "",
        ] {
            let mut b = s.as_bytes().to_vec();
            b.extend_from_slice(b",................");
            let fast = decimal(&b, 0).map(|(v, _)| v);
            let slow = if s.is_empty() {
                Some(0.0)
            } else {
                super::super::num::parse_decimal(s.as_bytes())
            };
            assert_eq!(fast, slow, "{s}");
        }
        assert_eq!(decimal(b".,..............", 0), None);
        assert_eq!(decimal(b"1234567890.1234567,......", 0), None);
    }

    #[test]
    fn stops_at_other_lines_and_cut_lines() {
        let line = b"H1,LH,2024-01-02 09:30:00.5,190.12,100,1000,190.11,190.13,7,C,11,3D,1,02,\r\n";
        let mut buf = line.to_vec();
        buf.extend_from_slice(line);
        buf.extend_from_slice(b"H1,!ENDMSG!,\r\n");
        let mut out = Vec::new();
        let used = parse_tick_lines(&buf, b"H1,LH,", &mut Eastern::new(), &mut out);
        assert_eq!(used, 2 * line.len());
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].trade.price, 190.12);
        assert_eq!(out[0].trade.conditions, Conditions::parse("3D").unwrap());
        assert_eq!((out[0].aggressor, out[0].day_code), (1, 2));
        // A line cut anywhere is left for later.
        for cut in 0..line.len() {
            let mut out = Vec::new();
            assert_eq!(
                parse_tick_lines(&line[..cut], b"H1,LH,", &mut Eastern::new(), &mut out),
                0
            );
        }
        // Another request's lines are not taken.
        assert_eq!(
            parse_tick_lines(line, b"H2,LH,", &mut Eastern::new(), &mut out),
            0
        );
    }
}
