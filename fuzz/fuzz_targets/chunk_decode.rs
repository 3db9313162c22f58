//! Feeds arbitrary bytes to the chunk decoder: as they are (the checksum catches nearly all),
//! and wrapped in a well-formed header with a correct checksum, so that the column decoders
//! themselves see arbitrary bodies. It must report corruption, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xlfeed_store::Records;
use xlfeed_store::codec::{MAGIC, VERSION};

fuzz_target!(|data: &[u8]| {
    let _ = Records::decode(data);
    if data.len() < 6 {
        return;
    }
    let (head, body) = data.split_at(6);
    let schema = head[0] % 14;
    let flags = head[1] & 1;
    let rows = u32::from(u16::from_le_bytes([head[2], head[3]]));
    let raw_len = u32::from(u16::from_le_bytes([head[4], head[5]]));
    let mut chunk = Vec::with_capacity(40 + body.len());
    chunk.extend_from_slice(MAGIC);
    chunk.extend_from_slice(&[VERSION, schema, flags, 0]);
    chunk.extend_from_slice(&rows.to_le_bytes());
    chunk.extend_from_slice(&raw_len.to_le_bytes());
    chunk.extend_from_slice(&(body.len() as u32).to_le_bytes());
    chunk.extend_from_slice(&[0; 16]);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&chunk);
    crc.update(body);
    chunk.extend_from_slice(&crc.finalize().to_le_bytes());
    chunk.extend_from_slice(body);
    let _ = Records::decode(&chunk);
});
