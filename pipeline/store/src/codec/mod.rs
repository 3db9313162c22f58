//! The chunk codec: one symbol-day of one kind as one checksummed, columnar, compressed blob.
//!
//! # Format (version 1, little-endian)
//!
//! ```text
//! offset size  field
//!      0    4  magic "XLFC"
//!      4    1  format version (1)
//!      5    1  schema: which record type the rows are (see `Schema`)
//!      6    1  flags: bit 0 = body is LZ4-compressed
//!      7    1  reserved (0)
//!      8    4  rows
//!     12    4  body length before compression
//!     16    4  body length as stored
//!     20    8  first row time (UTC ns; 0 for kinds without a time)
//!     28    8  last row time
//!     36    4  CRC-32 of bytes 0..36 followed by the stored body
//!     40    …  body
//! ```
//!
//! The body is a column count (u16) and then, per field of the record type in declaration
//! order, a u32 length and the column's bytes (see [`column`]). The checksum is verified before
//! anything is decoded, and decoding itself is bounds-checked, so damaged bytes are reported
//! as corrupt, never decoded into garbage and never a panic.

pub(crate) mod bitpack;
pub(crate) mod column;

use std::fmt;

/// The chunk magic.
pub const MAGIC: &[u8; 4] = b"XLFC";
/// The format version this build writes and reads.
pub const VERSION: u8 = 1;
/// Bytes in the fixed header.
pub const HEADER_LEN: usize = 40;
/// Flag: the body is LZ4 block-compressed.
const FLAG_LZ4: u8 = 1;
/// Largest body accepted when decoding (guards allocations against damaged headers).
pub const MAX_BODY: usize = 1 << 30;

/// Why a chunk failed to decode. The store wraps it with the key of the chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The bytes end before the structure they describe.
    #[error("chunk is truncated")]
    Truncated,
    /// The magic is not `XLFC`.
    #[error("not an xlfeed chunk (bad magic)")]
    BadMagic,
    /// Written by a newer xlfeed.
    #[error("chunk format version {0} is not supported (this build reads {VERSION})")]
    Version(u8),
    /// The stored checksum does not match the bytes.
    #[error("checksum mismatch: stored {stored:08x}, computed {computed:08x}")]
    Checksum {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes read.
        computed: u32,
    },
    /// The chunk holds another kind of record than the one asked for.
    #[error("chunk holds {found} records, not {expected}")]
    WrongSchema {
        /// Schema asked for.
        expected: &'static str,
        /// Schema code found.
        found: String,
    },
    /// The structure is inconsistent (after a matching checksum: a bug or a forged chunk).
    #[error("chunk is malformed: {0}")]
    Malformed(String),
}

/// A bounds-checked cursor over bytes.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > self.buf.len() {
            return Err(CodecError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// One byte.
    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// A little-endian u16.
    pub(crate) fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// A little-endian u32.
    pub(crate) fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A little-endian i64.
    pub(crate) fn i64(&mut self) -> Result<i64, CodecError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// An unsigned LEB128 varint (at most 10 bytes).
    pub(crate) fn uvarint(&mut self) -> Result<u64, CodecError> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(CodecError::Malformed("varint overflows 64 bits".into()));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError::Malformed("varint longer than 10 bytes".into()))
    }

    /// A zigzag signed varint.
    pub(crate) fn svarint(&mut self) -> Result<i64, CodecError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

/// What a chunk's rows are: one code per record type, stored in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Schema {
    /// The code in the header.
    pub code: u8,
    /// A readable name, used in errors.
    pub name: &'static str,
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// The fixed header of a chunk, readable without decoding the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Schema code of the rows.
    pub schema: u8,
    /// Number of rows.
    pub rows: u32,
    /// First row time (UTC ns), 0 for kinds without times.
    pub t_first: i64,
    /// Last row time (UTC ns).
    pub t_last: i64,
    /// Whether the body is LZ4-compressed.
    pub compressed: bool,
    /// Body bytes before compression.
    pub raw_len: u32,
}

/// Writes the columns of a chunk body.
pub struct BodyWriter {
    buf: Vec<u8>,
    columns: u16,
}

impl BodyWriter {
    pub(crate) fn new() -> Self {
        BodyWriter {
            buf: vec![0, 0],
            columns: 0,
        }
    }

    /// Appends one column produced by `f`.
    pub(crate) fn column(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        f(&mut self.buf);
        let len = (self.buf.len() - at - 4) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
        self.columns += 1;
    }

    fn finish(mut self) -> Vec<u8> {
        self.buf[0..2].copy_from_slice(&self.columns.to_le_bytes());
        self.buf
    }
}

/// Reads the columns of a chunk body in order.
pub struct BodyReader<'a> {
    r: Reader<'a>,
    left: u16,
}

impl<'a> BodyReader<'a> {
    fn new(body: &'a [u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(body);
        let left = r.u16()?;
        Ok(BodyReader { r, left })
    }

    /// The bytes of the next column.
    pub(crate) fn column(&mut self) -> Result<Reader<'a>, CodecError> {
        if self.left == 0 {
            return Err(CodecError::Malformed(
                "fewer columns than the schema has".into(),
            ));
        }
        self.left -= 1;
        let len = self.r.u32()? as usize;
        Ok(Reader::new(self.r.take(len)?))
    }
}

/// A record type the codec can store: its schema and its columns.
///
/// Implemented for every record of `xlfeed_core::records` by the `columnar!` macro in
/// `crate::records`.
pub trait Columnar: Sized {
    /// The schema code and name of this record type.
    const SCHEMA: Schema;
    /// Writes the rows' columns.
    fn write_columns(rows: &[Self], body: &mut BodyWriter);
    /// Reads `n` rows back, appending them to `out`.
    fn read_columns(
        body: &mut BodyReader<'_>,
        n: usize,
        out: &mut Vec<Self>,
    ) -> Result<(), CodecError>;
    /// The time of a row, for the header's first/last time (0 for kinds without times).
    fn time_of(&self) -> i64;
}

/// Encodes a day of rows into a chunk.
pub fn encode<R: Columnar>(rows: &[R]) -> Vec<u8> {
    let mut body = BodyWriter::new();
    R::write_columns(rows, &mut body);
    let raw = body.finish();
    let compressed = lz4_flex::block::compress(&raw);
    let (flags, stored) = if compressed.len() + compressed.len() / 16 < raw.len() {
        (FLAG_LZ4, compressed)
    } else {
        (0, raw.clone())
    };
    let t_first = rows.first().map_or(0, R::time_of);
    let t_last = rows.last().map_or(0, R::time_of);
    let mut out = Vec::with_capacity(HEADER_LEN + stored.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VERSION, R::SCHEMA.code, flags, 0]);
    out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out.extend_from_slice(&(stored.len() as u32).to_le_bytes());
    out.extend_from_slice(&t_first.to_le_bytes());
    out.extend_from_slice(&t_last.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&out);
    crc.update(&stored);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&stored);
    out
}

/// Reads and checks the header, and verifies the checksum over the whole chunk.
pub fn verify(chunk: &[u8]) -> Result<Header, CodecError> {
    let mut r = Reader::new(chunk);
    if r.take(4)? != MAGIC {
        return Err(CodecError::BadMagic);
    }
    let version = r.u8()?;
    if version != VERSION {
        return Err(CodecError::Version(version));
    }
    let schema = r.u8()?;
    let flags = r.u8()?;
    let _reserved = r.u8()?;
    let rows = r.u32()?;
    let raw_len = r.u32()?;
    let stored_len = r.u32()? as usize;
    let t_first = r.i64()?;
    let t_last = r.i64()?;
    let stored_crc = r.u32()?;
    if r.remaining() != stored_len {
        return Err(if r.remaining() < stored_len {
            CodecError::Truncated
        } else {
            CodecError::Malformed(format!(
                "{} bytes after a body of {stored_len}",
                r.remaining() - stored_len
            ))
        });
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&chunk[..HEADER_LEN - 4]);
    crc.update(&chunk[HEADER_LEN..]);
    let computed = crc.finalize();
    if computed != stored_crc {
        return Err(CodecError::Checksum {
            stored: stored_crc,
            computed,
        });
    }
    if flags & !FLAG_LZ4 != 0 {
        return Err(CodecError::Malformed(format!("unknown flags {flags:#x}")));
    }
    Ok(Header {
        schema,
        rows,
        t_first,
        t_last,
        compressed: flags & FLAG_LZ4 != 0,
        raw_len,
    })
}

/// Decodes a chunk of `R` rows, checking checksum, schema and structure.
pub fn decode<R: Columnar>(chunk: &[u8]) -> Result<Vec<R>, CodecError> {
    let mut out = Vec::new();
    decode_into(chunk, &mut out)?;
    Ok(out)
}

/// Decodes a chunk into `out`, replacing what it held but keeping its allocation: the way to
/// read many chunks without allocating (and page-faulting) a new buffer for each. On error,
/// `out` is left empty.
pub fn decode_into<R: Columnar>(chunk: &[u8], out: &mut Vec<R>) -> Result<(), CodecError> {
    out.clear();
    let h = verify(chunk)?;
    if h.schema != R::SCHEMA.code {
        return Err(CodecError::WrongSchema {
            expected: R::SCHEMA.name,
            found: crate::records::schema_name(h.schema),
        });
    }
    let stored = &chunk[HEADER_LEN..];
    let raw_len = h.raw_len as usize;
    if raw_len > MAX_BODY {
        return Err(CodecError::Malformed(format!("body of {raw_len} bytes")));
    }
    let owned;
    let body = if h.compressed {
        owned = lz4_flex::block::decompress(stored, raw_len)
            .map_err(|e| CodecError::Malformed(format!("lz4: {e}")))?;
        if owned.len() != raw_len {
            return Err(CodecError::Truncated);
        }
        &owned[..]
    } else {
        stored
    };
    let rows = h.rows as usize;
    // Every column spends at least one byte per block of rows: a bound that stops a forged
    // row count from allocating without limit.
    if rows > raw_len.saturating_mul(bitpack::BLOCK) {
        return Err(CodecError::Malformed(format!(
            "{rows} rows in {raw_len} bytes"
        )));
    }
    let mut reader = BodyReader::new(body)?;
    out.reserve(rows);
    let read = R::read_columns(&mut reader, rows, out);
    if read.is_err() {
        out.clear();
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Records;
    use crate::synth;
    use proptest::prelude::*;
    use xlfeed_core::records::Trade;

    /// A chunk with a valid header and checksum around an arbitrary body, as a bug or a
    /// forger could produce.
    fn forge(schema: u8, rows: u32, body: &[u8], compressed: bool) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[VERSION, schema, u8::from(compressed), 0]);
        out.extend_from_slice(&rows.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32 * 2).to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 16]);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&out);
        crc.update(body);
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn header_records_rows_and_times() {
        let rows = synth::trades(1000, 50.0, 3);
        let chunk = encode(&rows);
        let h = verify(&chunk).unwrap();
        assert_eq!(h.rows, 1000);
        assert_eq!(h.t_first, rows[0].time);
        assert_eq!(h.t_last, rows[999].time);
        assert_eq!(h.schema, Trade::SCHEMA.code);
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let chunk = encode(&synth::trades(300, 50.0, 4));
        for i in (0..chunk.len()).step_by(7) {
            for bit in [0, 3, 7] {
                let mut bad = chunk.clone();
                bad[i] ^= 1 << bit;
                assert!(decode::<Trade>(&bad).is_err(), "flip at byte {i} bit {bit}");
            }
        }
    }

    /// Issue 14: chunks written before the move to fjall's lz4_flex still decode, and
    /// encoding their rows again gives the same bytes.
    #[test]
    fn chunks_written_by_earlier_builds_decode_and_reencode_unchanged() {
        let text = include_str!("../../tests/fixtures/chunks-v1.hex");
        let mut chunks: Vec<(&str, Vec<u8>)> = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            if let Some(name) = line.strip_prefix("chunk ") {
                chunks.push((name, Vec::new()));
            } else if let Some((_, bytes)) = chunks.last_mut() {
                bytes.extend(
                    (0..line.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&line[i..i + 2], 16).unwrap()),
                );
            }
        }
        assert_eq!(chunks.len(), 2);
        for (name, chunk) in &chunks {
            assert!(verify(chunk).unwrap().compressed, "{name}");
            let rows = Records::decode(chunk).unwrap();
            assert_eq!(&rows.encode(), chunk, "{name}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Records::decode(&bytes);
            let _ = decode::<Trade>(&bytes);
        }

        #[test]
        fn forged_bodies_never_panic(
            schema in 0u8..14,
            rows in prop_oneof![0u32..600, any::<u32>()],
            body in proptest::collection::vec(any::<u8>(), 0..800),
            compressed in any::<bool>(),
        ) {
            let _ = Records::decode(&forge(schema, rows, &body, compressed));
        }

        #[test]
        fn every_kind_round_trips(kind_index in 0usize..12, n in 0usize..700, seed in any::<u64>()) {
            let kind = synth::EVERY_KIND[kind_index];
            let rows = synth::records(kind, n, seed);
            prop_assert_eq!(Records::decode(&rows.encode()).unwrap(), rows);
        }
    }
}
