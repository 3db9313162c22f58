//! An xls workbook measured from its BIFF records before calamine reads it.
//!
//! calamine's `Xls` reads every sheet as soon as the file is opened: it reserves room for
//! the used range a sheet's DIMENSIONS record declares and builds a dense grid from the
//! sheet's first cell to its last. A 6 KB file holding one cell at A1 and one at column
//! 65,536 of row 65,536 makes it ask for 137 GB, one declaring 4 billion rows for 11 PB,
//! and the process aborts. Its container reader follows a sector chain that loops for ever.
//!
//! This reads the container as calamine does ([`cfb`]: the first stream named `Workbook`, else
//! `Book`), every sector chain bounded by the sectors the file has, then walks each sheet's
//! records as calamine does and adds up what it would hold: the declared used range, the
//! span of the cells and the span of the formulas, and the shared strings its cells copy
//! (one 8,000-character string in a 10-byte record, as often as the file likes). Over a
//! cap, or where calamine would loop, panic or read past the stream, the file is refused
//! before calamine sees it.

use xlfeed_core::quoted;

use super::super::{ReconcileError, a1, bad};

mod cfb;

/// Refuses `file` (an OLE container holding a workbook) if calamine would hold more than
/// `max_cells` cells, or more than `max_text` bytes of text, for all its sheets together, or
/// could not read it within bounds.
pub(super) fn check(file: &[u8], max_cells: u64, max_text: u64) -> Result<(), ReconcileError> {
    let stream = cfb::workbook_stream(file)?;
    let Some((sheets, strings)) = globals(&stream)? else {
        // Encrypted: calamine refuses it before reading any sheet.
        return Ok(());
    };
    let (mut cells, mut text, mut scanned) = (0u64, 0u64, 0usize);
    for (pos, name) in sheets {
        let Some(records) = stream.get(pos..) else {
            return Err(damaged(format!(
                "sheet {} starts past the end of the workbook stream",
                quoted(&name)
            )));
        };
        let s = sheet(records, &name, &strings)?;
        // Sheets of a well-formed file do not overlap; read twice, they would cost twice.
        scanned = scanned.saturating_add(s.bytes);
        if scanned > stream.len() {
            return Err(damaged("its sheets overlap in the workbook stream"));
        }
        // Every cell holds its own copy of its shared string: at most 6 bytes a character.
        text = text.saturating_add(s.shared.saturating_mul(6));
        if text > max_text {
            return Err(ReconcileError::TooLarge(format!(
                "the text of sheet {}'s cells comes to more than the {max_text} bytes allowed",
                quoted(&name)
            )));
        }
        // calamine reserves a sheet's declared range while it reads the sheet's cells.
        if s.declared > max_cells {
            return Err(ReconcileError::TooLarge(format!(
                "sheet {} declares a used range of {} cells (its DIMENSIONS record), more \
                 than the {max_cells} cells allowed",
                quoted(&name),
                s.declared
            )));
        }
        for span in [s.values, s.formulas] {
            cells = cells.saturating_add(span.cells());
            if cells > max_cells {
                return Err(ReconcileError::TooLarge(format!(
                    "sheet {} spans {}:{} ({} rows × {} columns), more than the {max_cells} \
                     cells allowed",
                    quoted(&name),
                    a1(span.r0, span.c0),
                    a1(span.r1, span.c1),
                    u64::from(span.r1 - span.r0) + 1,
                    u64::from(span.c1 - span.c0) + 1,
                )));
            }
        }
    }
    Ok(())
}

/// The cells from `(r0, c0)` to `(r1, c1)`; none while `r0 > r1`.
#[derive(Clone, Copy)]
struct Span {
    r0: u32,
    c0: u32,
    r1: u32,
    c1: u32,
}

impl Span {
    const NONE: Span = Span {
        r0: u32::MAX,
        c0: u32::MAX,
        r1: 0,
        c1: 0,
    };

    fn add(&mut self, row: u32, col: u32) {
        (self.r0, self.c0) = (self.r0.min(row), self.c0.min(col));
        (self.r1, self.c1) = (self.r1.max(row), self.c1.max(col));
    }

    fn cells(&self) -> u64 {
        if self.r0 > self.r1 {
            return 0;
        }
        (u64::from(self.r1 - self.r0) + 1) * (u64::from(self.c1 - self.c0) + 1)
    }
}

/// What calamine holds for one sheet, and the bytes of its records.
struct SheetCost {
    declared: u64,
    values: Span,
    formulas: Span,
    /// Characters of the shared strings its cells copy.
    shared: u64,
    bytes: usize,
}

/// The records of a stream: type, data and what follows, as calamine's record iterator cuts
/// them (a CONTINUE record comes out as a record of its own too).
fn records(stream: &[u8]) -> impl Iterator<Item = (u16, &[u8], &[u8])> {
    let mut rest = stream;
    std::iter::from_fn(move || {
        let typ = u16_at(rest, 0)?;
        let len = usize::from(u16_at(rest, 2)?);
        let data = rest.get(4..4 + len)?;
        rest = &rest[4 + len..];
        Some((typ, data, rest))
    })
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// What the workbook globals say: the sheets (stream position and name) and the characters
/// of each shared string. `None` if encrypted.
type Globals = (Vec<(usize, String)>, Vec<u64>);

fn globals(stream: &[u8]) -> Result<Option<Globals>, ReconcileError> {
    let (mut sheets, mut strings) = (Vec::new(), Vec::new());
    for (typ, data, rest) in records(stream) {
        // Records calamine reads without checking their length.
        let short = match typ {
            0x0809 | 0x002F | 0x0042 | 0x0022 => data.len() < 2,
            0x0085 => data.len() < 8,
            _ => false,
        };
        if short {
            return Err(damaged(format!("its record 0x{typ:04X} is too short")));
        }
        match typ {
            0x002F if u16_at(data, 0) != Some(0) => return Ok(None),
            0x0085 => {
                let pos = u32_at(data, 0).unwrap_or(u32::MAX) as usize;
                sheets.push((pos, sheet_name(&data[6..])));
            }
            0x00FC => strings = shared_strings(data, rest)?,
            0x000A => break,
            _ => {}
        }
    }
    Ok(Some((sheets, strings)))
}

/// The characters of each string of an SST record (and the CONTINUE records after it), read
/// as calamine reads them.
fn shared_strings(data: &[u8], mut rest: &[u8]) -> Result<Vec<u64>, ReconcileError> {
    let mut parts = Vec::new();
    while rest.len() > 4 && u16_at(rest, 0) == Some(0x003C) {
        let len = usize::from(u16_at(rest, 2).unwrap_or(0));
        parts.push(rest.get(4..4 + len).ok_or_else(sst_damaged)?);
        rest = &rest[4 + len..];
    }
    let mut r = Continued {
        data: data.get(8..).ok_or_else(sst_damaged)?,
        parts: parts.into_iter(),
    };
    let mut chars = Vec::new();
    while !r.data.is_empty() || r.next_part() {
        chars.push(r.string()?);
    }
    Ok(chars)
}

fn sst_damaged() -> ReconcileError {
    damaged("its shared strings (SST) are cut short")
}

/// A record's data running on into its CONTINUE records.
struct Continued<'a> {
    data: &'a [u8],
    parts: std::vec::IntoIter<&'a [u8]>,
}

impl<'a> Continued<'a> {
    fn next_part(&mut self) -> bool {
        self.parts.next().map(|d| self.data = d).is_some()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ReconcileError> {
        let d = self.data.get(..n).ok_or_else(sst_damaged)?;
        self.data = &self.data[n..];
        Ok(d)
    }

    fn skip(&mut self, mut n: usize) -> Result<(), ReconcileError> {
        while n > 0 {
            if self.data.is_empty() && !self.next_part() {
                return Err(sst_damaged());
            }
            let l = n.min(self.data.len());
            self.data = &self.data[l..];
            n -= l;
        }
        Ok(())
    }

    /// One XLUnicodeRichExtendedString: its characters.
    fn string(&mut self) -> Result<u64, ReconcileError> {
        if self.data.is_empty() {
            return Ok(0);
        }
        let head = self.take(3)?;
        let (cch, flags) = (usize::from(u16::from_le_bytes([head[0], head[1]])), head[2]);
        let runs = match flags & 0x8 {
            0 => 0,
            _ => usize::from(u16_at(self.take(2)?, 0).unwrap_or(0)),
        };
        let ext = match flags & 0x4 {
            0 => 0,
            _ => u32_at(self.take(4)?, 0).unwrap_or(0) as i32 as usize,
        };
        // One byte a character, or two; a CONTINUE record starts with its own flag.
        let (mut high, mut left) = (flags & 1 == 1, cch);
        while left > 0 {
            let width = if high { 2 } else { 1 };
            let n = (self.data.len() / width).min(left);
            self.data = &self.data[n * width..];
            left -= n;
            if left > 0 {
                if !self.next_part() {
                    return Err(sst_damaged());
                }
                high = self.take(1)?[0] & 1 == 1;
            }
        }
        self.skip(runs * 4)?;
        self.skip(ext)?;
        Ok(cch as u64)
    }
}

/// A BoundSheet8's name, for messages only: one-byte length, BIFF8 flags, then characters.
fn sheet_name(data: &[u8]) -> String {
    let len = usize::from(data[0]);
    let chars = &data[2.min(data.len())..];
    if data[1] & 1 == 1 {
        let units: Vec<u16> = chars
            .chunks_exact(2)
            .take(len)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        chars.iter().take(len).map(|b| char::from(*b)).collect()
    }
}

/// One sheet's records up to its EOF, as calamine walks them.
fn sheet(stream: &[u8], name: &str, strings: &[u64]) -> Result<SheetCost, ReconcileError> {
    let mut cost = SheetCost {
        declared: 0,
        values: Span::NONE,
        formulas: Span::NONE,
        shared: 0,
        bytes: 0,
    };
    let (mut seen_bof, mut depth, mut formula_at) = (false, 0usize, (0u32, 0u32));
    for (typ, data, _) in records(stream) {
        cost.bytes += 4 + data.len();
        if depth > 0 {
            match typ {
                0x0809 => depth += 1,
                0x000A => depth -= 1,
                _ => {}
            }
            continue;
        }
        let at = || Some((u32::from(u16_at(data, 0)?), u32::from(u16_at(data, 2)?)));
        match typ {
            0x0809 if seen_bof => depth += 1,
            0x0809 => seen_bof = true,
            0x0200 => {
                let declared = dimensions(data).ok_or_else(|| {
                    damaged(format!(
                        "sheet {}'s used range (its DIMENSIONS record) ends before it starts",
                        quoted(name)
                    ))
                })?;
                cost.declared = cost.declared.saturating_add(declared);
            }
            0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD => {
                if let Some((r, c)) = at() {
                    cost.values.add(r, c);
                }
                let shared = u32_at(data, 6).and_then(|i| strings.get(i as usize));
                if let (0x00FD, Some(chars)) = (typ, shared) {
                    cost.shared = cost.shared.saturating_add(*chars);
                }
            }
            // MULRK: a row, its first column, six bytes a cell, its last column.
            0x00BD if data.len() >= 6 => {
                let (row, first) = at().unwrap_or_default();
                let last = u32::from(u16_at(data, data.len() - 2).unwrap_or(0));
                if last < first {
                    return Err(damaged(format!(
                        "sheet {} has a MULRK record whose last column comes before its first",
                        quoted(name)
                    )));
                }
                cost.values.add(row, first);
                cost.values.add(row, last);
            }
            0x0006 => {
                if let Some(pos) = at() {
                    formula_at = pos;
                    cost.values.add(pos.0, pos.1);
                    cost.formulas.add(pos.0, pos.1);
                }
            }
            0x0207 => cost.values.add(formula_at.0, formula_at.1),
            0x000A => break,
            _ => {}
        }
    }
    Ok(cost)
}

/// The cells calamine reserves for a DIMENSIONS record (`None`: an inverted range, which
/// calamine's arithmetic would wrap).
fn dimensions(r: &[u8]) -> Option<u64> {
    let (rf, rl, mut cf, cl) = match r.len() {
        10 => (
            u32::from(u16_at(r, 0)?),
            u32::from(u16_at(r, 2)?),
            u32::from(u16_at(r, 4)?),
            u32::from(u16_at(r, 6)?),
        ),
        14 | 16 => (
            u32_at(r, 0)?,
            u32_at(r, 4)?,
            u32::from(u16_at(r, 8)?),
            u32::from(u16_at(r, 10)?),
        ),
        // calamine refuses the file.
        _ => return Some(0),
    };
    if 0xFF < cf || cl < cf {
        cf = 0;
    }
    if rl < 1 || cl < 1 {
        return Some(1);
    }
    let rows = (rl - 1).checked_sub(rf)?;
    let cols = (cl - 1).checked_sub(cf)?;
    Some((u64::from(rows) + 1) * (u64::from(cols) + 1))
}

fn damaged(what: impl std::fmt::Display) -> ReconcileError {
    bad(format!("the upload is not a readable xls workbook: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CURVES: &[u8] = include_bytes!("../../../tests/fixtures/import/curves.xls");

    #[test]
    fn a_real_workbook_passes() {
        check(CURVES, 1000, 1 << 20).unwrap();
    }

    proptest! {
        /// Whatever bytes a container holds, the check answers without panicking, and
        /// answers yes only to what calamine then reads within the caps.
        #[test]
        fn any_container_is_answered(
            flips in proptest::collection::vec((0usize..5632, any::<u8>()), 1..8),
        ) {
            let mut file = CURVES.to_vec();
            for (at, byte) in flips {
                file[at] = byte;
            }
            if check(&file, 1000, 1 << 20).is_ok() {
                use calamine::Reader;
                // calamine may still panic on a damaged record (the caller contains that).
                let read = std::panic::catch_unwind(|| {
                    calamine::Xls::new(std::io::Cursor::new(&file)).map(|mut x| {
                        x.worksheets()
                            .iter()
                            .map(|(_, r)| r.get_size().0 * r.get_size().1)
                            .sum::<usize>()
                    })
                });
                if let Ok(Ok(total)) = read {
                    prop_assert!(total <= 1000, "{total}");
                }
            }
        }
    }
}
