//! The RESP backend: SSDB (the seed's store), Apache Kvrocks, Redis or Valkey.
//!
//! Only commands all four accept (shared/reference/storage.md §2.1): SET, MGET, DEL, STRLEN,
//! ZADD with integer scores, ZRANGE, ZRANGEBYSCORE with inclusive bounds, ZREM, ZCARD, and
//! pipelining. No MULTI, no Lua, no SCAN, no SELECT beyond the URL's database. The connection
//! skips `CLIENT SETINFO` (SSDB rejects it) and speaks RESP2.
//!
//! A put is two round trips: first every chunk (and the symbol and kind registries), then,
//! only if all of those succeeded, every index entry. The index entry is the commit marker.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo, RedisError};

use crate::error::{Result, StoreError};
use crate::key::{ChunkKey, Dataset, Kind, index_key, kinds_key, symbols_key};
use xlfeed_core::Symbol;

/// How long connecting may take before the store is reported unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one command or pipeline may take.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Chunk bytes per write pipeline (keeps one request well under SSDB's 31 MB packet limit
/// when chunks are small, and bounds client memory when they are many).
const PIPELINE_BYTES: usize = 16 << 20;
/// Keys per read pipeline.
const READ_BATCH: usize = 512;

/// An open RESP store.
#[derive(Clone)]
pub(crate) struct Resp {
    conn: ConnectionManager,
    url: String,
}

impl Resp {
    /// Connects to the server at `url` (`redis://[:password@]host:port[/db]`).
    pub(crate) async fn open(url: &str, shown: &str) -> Result<Resp> {
        let bad = |reason: String| StoreError::BadUrl {
            url: shown.to_owned(),
            reason,
        };
        let info = url.into_connection_info().map_err(|e| bad(e.to_string()))?;
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        let info = info.set_redis_settings(settings);
        let client = Client::open(info).map_err(|e| bad(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let unavailable = |reason: String| StoreError::Unavailable {
            url: shown.to_owned(),
            reason,
        };
        let conn = tokio::time::timeout(
            CONNECT_TIMEOUT * 3,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| unavailable(format!("no answer within {:?}", CONNECT_TIMEOUT * 3)))?
        .map_err(|e| unavailable(e.to_string()))?;
        let me = Resp {
            conn,
            url: shown.to_owned(),
        };
        // Prove the server answers (and that a password, if any, was accepted).
        let mut conn = me.conn.clone();
        let ping = redis::cmd("PING");
        let _: String = tokio::time::timeout(CONNECT_TIMEOUT, ping.query_async(&mut conn))
            .await
            .map_err(|_| unavailable(format!("no answer to PING within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| me.err(e))?;
        Ok(me)
    }

    fn err(&self, e: RedisError) -> StoreError {
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
        {
            StoreError::Unavailable {
                url: self.url.clone(),
                reason: e.to_string(),
            }
        } else {
            StoreError::Backend {
                url: self.url.clone(),
                reason: e.to_string(),
            }
        }
    }

    pub(crate) async fn put_chunks(&self, items: Vec<(ChunkKey, Vec<u8>)>) -> Result<()> {
        let mut conn = self.conn.clone();
        let mut start = 0;
        while start < items.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < items.len()
                && (end == start || bytes + items[end].1.len() <= PIPELINE_BYTES)
            {
                bytes += items[end].1.len();
                end += 1;
            }
            let group = &items[start..end];
            let mut data = redis::pipe();
            for (key, chunk) in group {
                data.cmd("SET")
                    .arg(key.chunk_key())
                    .arg(chunk.as_slice())
                    .ignore();
                data.cmd("ZADD")
                    .arg(symbols_key(key.dataset, key.kind))
                    .arg(0)
                    .arg(key.symbol.as_str())
                    .ignore();
                data.cmd("ZADD")
                    .arg(kinds_key(key.dataset))
                    .arg(0)
                    .arg(key.kind.to_string())
                    .ignore();
            }
            data.query_async::<()>(&mut conn)
                .await
                .map_err(|e| self.err(e))?;
            let mut commit = redis::pipe();
            for (key, _) in group {
                let day = key.day.yyyymmdd();
                commit
                    .cmd("ZADD")
                    .arg(key.index_key())
                    .arg(day)
                    .arg(day)
                    .ignore();
            }
            commit
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| self.err(e))?;
            start = end;
        }
        Ok(())
    }

    pub(crate) async fn get_chunks(&self, keys: Vec<String>) -> Result<Vec<Option<Vec<u8>>>> {
        let mut conn = self.conn.clone();
        let mut out = Vec::with_capacity(keys.len());
        for group in keys.chunks(READ_BATCH) {
            let mut cmd = redis::cmd("MGET");
            for k in group {
                cmd.arg(k);
            }
            let got: Vec<Option<Vec<u8>>> =
                cmd.query_async(&mut conn).await.map_err(|e| self.err(e))?;
            out.extend(got);
        }
        Ok(out)
    }

    pub(crate) async fn days(
        &self,
        ds: Dataset,
        kind: Kind,
        symbol: &Symbol,
        lo: u32,
        hi: u32,
    ) -> Result<Vec<(u32, u64)>> {
        let mut conn = self.conn.clone();
        let key = index_key(ds, kind, symbol);
        let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(&key)
            .arg(lo)
            .arg(hi)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        let mut days = Vec::with_capacity(members.len());
        for m in &members {
            let day = m.parse::<u32>().map_err(|_| StoreError::Backend {
                url: self.url.clone(),
                reason: format!("index {key} has a member {m:?} that is not a yyyymmdd day"),
            })?;
            days.push(day);
        }
        days.sort_unstable();
        Ok(days.into_iter().map(|d| (d, 0)).collect())
    }

    /// The stored size of each chunk, one STRLEN each, pipelined.
    pub(crate) async fn sizes(&self, keys: &[String]) -> Result<Vec<u64>> {
        let mut conn = self.conn.clone();
        let mut out = Vec::with_capacity(keys.len());
        for group in keys.chunks(READ_BATCH) {
            let mut p = redis::pipe();
            for k in group {
                p.cmd("STRLEN").arg(k);
            }
            let got: Vec<u64> = p.query_async(&mut conn).await.map_err(|e| self.err(e))?;
            out.extend(got);
        }
        Ok(out)
    }

    async fn registry(&self, key: String) -> Result<Vec<String>> {
        let mut conn = self.conn.clone();
        let mut members: Vec<String> = redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        members.sort();
        Ok(members)
    }

    pub(crate) async fn symbols(&self, ds: Dataset, kind: Kind) -> Result<Vec<String>> {
        self.registry(symbols_key(ds, kind)).await
    }

    pub(crate) async fn kinds(&self, ds: Dataset) -> Result<Vec<String>> {
        self.registry(kinds_key(ds)).await
    }

    pub(crate) async fn delete(&self, key: ChunkKey) -> Result<bool> {
        let mut conn = self.conn.clone();
        let index = key.index_key();
        let removed: i64 = redis::cmd("ZREM")
            .arg(&index)
            .arg(key.day.yyyymmdd())
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        let (left,): (i64,) = redis::pipe()
            .cmd("DEL")
            .arg(key.chunk_key())
            .ignore()
            .cmd("ZCARD")
            .arg(&index)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        if left == 0 {
            let _: i64 = redis::cmd("ZREM")
                .arg(symbols_key(key.dataset, key.kind))
                .arg(key.symbol.as_str())
                .query_async(&mut conn)
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(removed > 0)
    }
}
