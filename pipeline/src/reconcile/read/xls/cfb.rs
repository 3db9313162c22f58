//! The OLE container (Compound File Binary) of an xls workbook, read as calamine reads it
//! but bounded: calamine follows a sector chain until it ends, so a chain that loops grows
//! its buffer until memory runs out, and indexes its allocation table unchecked. Here every
//! chain is cut at as many links as the file has sectors, and every sector and table entry
//! is checked, before calamine is given the file.

use super::super::super::{ReconcileError, bad};
use super::{damaged, u16_at, u32_at};

const DIFSECT: u32 = 0xFFFF_FFFC;
const ENDOFCHAIN: u32 = 0xFFFF_FFFE;
const RESERVED_SECTORS: u32 = 0xFFFF_FFFA;

/// The `Workbook` stream (else `Book`) of an OLE container, read as calamine reads it but
/// with every chain bounded.
pub(super) fn workbook_stream(file: &[u8]) -> Result<Vec<u8>, ReconcileError> {
    let header = file
        .get(..512)
        .ok_or_else(|| damaged("the container is shorter than its header"))?;
    let version = u16_at(header, 26).unwrap_or(0);
    let size = match u16_at(header, 30) {
        Some(9) => 512,
        Some(12) if file.len() >= 4096 => 4096,
        _ => {
            return Err(damaged(
                "the container's sector size is not 512 or 4096 bytes",
            ));
        }
    };
    let word = |at| u32_at(header, at).unwrap_or(0);
    let (dir_start, mini_fat_start, mini_fat_len, difat_start) =
        (word(48), word(60), word(64) as usize, word(68));
    let sectors = Sectors {
        file,
        size,
        maxid: file.len() / size,
    };

    let mut difat: Vec<u32> = header[76..512].chunks_exact(4).map(le32).collect();
    let (mut id, mut n) = (difat_start, 0usize);
    while id < RESERVED_SECTORS {
        n += 1;
        if n > sectors.maxid + 1 {
            return Err(damaged("the container's sector allocation loops"));
        }
        difat.extend(sectors.full(id)?.chunks_exact(4).map(le32));
        id = difat.pop().unwrap_or(ENDOFCHAIN);
    }
    let fat_sectors: Vec<u32> = difat.into_iter().filter(|id| *id < DIFSECT).collect();
    if fat_sectors.len() > sectors.maxid + 1 {
        return Err(damaged(
            "the container lists more allocation sectors than it has",
        ));
    }
    let mut fats = Vec::new();
    for id in fat_sectors {
        fats.extend(sectors.full(id)?.chunks_exact(4).map(le32));
    }

    let dirs = sectors.chain(dir_start, usize::MAX, &fats)?;
    let dirs: Vec<(String, u32, usize)> = dirs
        .chunks_exact(128)
        .map(|d| {
            let units: Vec<u16> = d[..64]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            let mut name = String::from_utf16_lossy(&units);
            name.truncate(name.find('\0').unwrap_or(name.len()));
            let len = if size == 512 {
                le32(&d[120..124]) as usize
            } else {
                usize::try_from(u64::from_le_bytes(
                    d[120..128].try_into().unwrap_or_default(),
                ))
                .unwrap_or(usize::MAX)
            };
            (name, le32(&d[116..120]), len)
        })
        .collect();
    let Some(root) = dirs.first().filter(|r| version == 3 || r.1 != ENDOFCHAIN) else {
        return Err(damaged("the container has no root directory"));
    };
    let (ministream, minifat) = if mini_fat_len > 0 {
        let stream = sectors.chain(root.1, root.2, &fats)?;
        let fat = sectors.chain(mini_fat_start, mini_fat_len.saturating_mul(size), &fats)?;
        if fat.len() % 4 != 0 {
            return Err(damaged(
                "the container's mini allocation table is truncated",
            ));
        }
        (stream, fat.chunks_exact(4).map(le32).collect())
    } else {
        (Vec::new(), Vec::new())
    };
    let named = |n: &str| dirs.iter().find(|d| d.0.eq_ignore_ascii_case(n));
    let Some((_, start, len)) = named("Workbook").or_else(|| named("Book")) else {
        return Err(bad(
            "the upload is an OLE container without a workbook stream: not xls",
        ));
    };
    if *len < 4096 {
        let mini = Sectors {
            file: &ministream,
            size: 64,
            maxid: (sectors.maxid * 8).min(ministream.len() / 64),
        };
        mini.chain_from(*start, *len, &minifat, 0)
    } else {
        sectors.chain(*start, *len, &fats)
    }
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The sectors of a container (or of its mini stream).
struct Sectors<'a> {
    file: &'a [u8],
    size: usize,
    maxid: usize,
}

impl Sectors<'_> {
    /// Sector `id`, cut short at the end of the file; sector 0 follows the header.
    fn get(&self, id: u32, skip: usize) -> Result<&[u8], ReconcileError> {
        let id = id as usize;
        if id > self.maxid {
            return Err(damaged(format!("sector {id} is past the end of the file")));
        }
        let start = ((id + skip) * self.size).min(self.file.len());
        Ok(&self.file[start..(start + self.size).min(self.file.len())])
    }

    /// Sector `id` whole (an allocation sector cut short would panic calamine).
    fn full(&self, id: u32) -> Result<&[u8], ReconcileError> {
        let s = self.get(id, 1)?;
        if s.len() == self.size {
            Ok(s)
        } else {
            Err(damaged(format!("sector {id} is cut short")))
        }
    }

    fn chain(&self, start: u32, len: usize, fats: &[u32]) -> Result<Vec<u8>, ReconcileError> {
        self.chain_from(start, len, fats, 1)
    }

    /// At most `len` bytes of the chain from `start`; a chain with more links than there
    /// are sectors loops.
    fn chain_from(
        &self,
        start: u32,
        len: usize,
        fats: &[u32],
        skip: usize,
    ) -> Result<Vec<u8>, ReconcileError> {
        let (mut out, mut id, mut links) = (Vec::new(), start, 0usize);
        while id != ENDOFCHAIN {
            links += 1;
            if links > self.maxid + 1 {
                return Err(damaged("a sector chain of the container loops"));
            }
            let s = self.get(id, skip)?;
            if skip == 0 && s.len() < self.size {
                return Err(damaged("a stream runs past the container's mini stream"));
            }
            out.extend_from_slice(&s[..s.len().min(len - out.len())]);
            if out.len() >= len {
                break;
            }
            id = *fats
                .get(id as usize)
                .ok_or_else(|| damaged(format!("sector {id} is not in the allocation table")))?;
        }
        Ok(out)
    }
}
