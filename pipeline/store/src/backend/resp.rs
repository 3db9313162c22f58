//! The RESP backend: SSDB (the seed's store), Apache Kvrocks, Redis or Valkey, one server
//! (`redis://`) or a Redis Cluster (`redis+cluster://`, also Kvrocks in cluster mode).
//!
//! Only commands all four accept (shared/reference/storage.md §2.1): GET and SET without
//! options, MGET, DEL (of strings), STRLEN, ZADD with integer scores and no flags, ZRANGE,
//! ZRANGEBYSCORE with inclusive bounds, ZREM, ZCARD, and pipelining. No MULTI, no Lua, no
//! SCAN, no SELECT beyond the URL's database. The connection skips `CLIENT SETINFO` (SSDB
//! rejects it) and speaks RESP2. The layout marker is the string key `layout`.
//!
//! A put is two round trips: first every chunk (and the symbol and kind registries), then,
//! only if all of those succeeded, every index entry. The index entry is the commit marker.
//!
//! On a cluster the same commands go through the redis library's cluster client, which
//! follows MOVED/ASK redirections, refreshes its slot map after a failover, and splits an
//! MGET by slot. A pipeline may not cross hash slots there, so each round trip of a put is
//! one pipeline per slot — per series, since a series' keys share a hash tag
//! ([`crate::key`]) — sent concurrently; the second round trip still starts only after every
//! pipeline of the first succeeded, so the commit order holds per series and per batch.
//!
//! Every error the redis library returns is classified once, in [`classify`]: a store that
//! cannot serve now but will by itself (down, loading its data, failing over) is
//! [`StoreError::Unavailable`], so the server answers 503 with `Retry-After` and the fetch
//! waits; anything else is [`StoreError::Backend`].

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::{
    Client, Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, ServerError, Value,
};

use crate::error::{Result, StoreError};
use crate::key::{ChunkKey, Dataset, LAYOUT_KEY, SeriesName, kinds_key, symbols_key};
use crate::url::{Cluster, StoreUrl};
use xlfeed_core::ErrorKind;

/// How long connecting may take before the store is reported unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one command or pipeline may take.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Chunk bytes per write pipeline (keeps one request well under SSDB's 31 MB packet limit
/// when chunks are small, and bounds client memory when they are many).
const PIPELINE_BYTES: usize = 16 << 20;
/// Keys per read pipeline.
const READ_BATCH: usize = 512;

/// Pipelines of one slot a put sends at once to a cluster.
const CLUSTER_PARALLEL: usize = 16;

/// Every command the RESP backend sends, as Redis names it in `INFO commandstats`: the
/// subset SSDB, Kvrocks and Redis implement the same way (docs/storage.md lists it too). A
/// test runs every store operation against redis-server and a cluster and fails when the
/// server counted a command that is not here; another reads this file's `cmd("…")` calls.
pub const COMMANDS: &[&str] = &[
    "ping",          // open: the server answers (and took the password)
    "get",           // the layout marker
    "set",           // a chunk, the layout marker (no options)
    "mget",          // chunks (split by slot on a cluster)
    "strlen",        // chunk sizes (stats)
    "del",           // chunks (strings only: SSDB's DEL removes nothing else)
    "zadd",          // index entries and registries (one integer score, no flags)
    "zrange",        // registries (0 -1)
    "zrangebyscore", // a series' days (inclusive bounds)
    "zrem",          // index entries and registries
    "zcard",         // is a series' index empty
];

/// Sent only when the URL names a database other than 0 (SSDB has none: see [`no_select`]).
pub const SELECT: &str = "select";

/// What the cluster client sends to read the slot map (never to SSDB, which has no cluster).
pub const CLUSTER_COMMANDS: &[&str] = &["cluster|slots"];

/// An open RESP store.
#[derive(Clone)]
pub(crate) struct Resp {
    conn: Conn,
    url: String,
}

/// A connection to one server, or to a cluster (every node, by slot).
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl Resp {
    /// Connects to the store at `location`: one server (`redis://[:password@]host:port[/db]`)
    /// or a cluster through its listed nodes (`redis+cluster://…`).
    pub(crate) async fn open(location: &StoreUrl, shown: &str) -> Result<Resp> {
        let unavailable = |reason: String| StoreError::Unavailable {
            url: shown.to_owned(),
            reason,
        };
        let conn = match location.cluster() {
            Some(cluster) => Conn::Cluster(Resp::connect_cluster(cluster, shown).await?),
            None => Conn::Single(Resp::connect(location, shown).await?),
        };
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

    /// A cluster connection through the listed nodes: the client reads the slot map from the
    /// first that answers and connects to the others as commands need them.
    async fn connect_cluster(cluster: &Cluster, shown: &str) -> Result<ClusterConnection> {
        let bad = |reason: String| StoreError::BadUrl {
            url: shown.to_owned(),
            reason,
        };
        let nodes = cluster
            .nodes
            .iter()
            .map(|(host, port)| redis::ConnectionAddr::Tcp(host.clone(), *port))
            .map(|addr| addr.into_connection_info())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        let mut builder = ClusterClientBuilder::new(nodes)
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(4)
            .min_retry_wait(100)
            .max_retry_wait(1_000);
        if !cluster.user.is_empty() {
            builder = builder.username(&cluster.user);
        }
        if let Some(pw) = &cluster.password {
            builder = builder.password(pw);
        }
        let client = builder.build().map_err(|e| bad(e.to_string()))?;
        tokio::time::timeout(CONNECT_TIMEOUT * 3, client.get_async_connection())
            .await
            .map_err(|_| StoreError::Unavailable {
                url: shown.to_owned(),
                reason: format!("no node answered within {:?}", CONNECT_TIMEOUT * 3),
            })?
            .map_err(|e| store_error(shown, &e))
    }

    /// A managed connection to one server.
    async fn connect(location: &StoreUrl, shown: &str) -> Result<ConnectionManager> {
        let bad = |reason: String| StoreError::BadUrl {
            url: shown.to_owned(),
            reason,
        };
        let url = location.expose();
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
        tokio::time::timeout(
            CONNECT_TIMEOUT * 3,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| unavailable(format!("no answer within {:?}", CONNECT_TIMEOUT * 3)))?
        .map_err(|e| match location.database() {
            db if db != 0 && no_select(&e) => StoreError::BadUrl {
                url: shown.to_owned(),
                reason: format!(
                    "database {db} needs SELECT, which this server does not have (it \
                     answered {}); SSDB has no databases: use database 0 (\"/0\" or no \
                     path). FEED and POST keys start with their dataset (\"feed:\", \"post:\"), \
                     so both stores can share database 0 of one server",
                    xlfeed_core::error::quoted(&server_line_of(&e))
                ),
            },
            _ => store_error(shown, &e),
        })
    }

    /// Sends `cmds`, each with the key that routes it, replies ignored: as one pipeline to a
    /// single server; to a cluster, one pipeline per hash slot, [`CLUSTER_PARALLEL`] at a time.
    /// Returns when every command succeeded, or with the first failure.
    async fn send(&self, cmds: Vec<(String, Cmd)>) -> Result<()> {
        if cmds.is_empty() {
            return Ok(());
        }
        let cluster = match &self.conn {
            Conn::Single(c) => {
                let mut pipe = redis::pipe();
                for (_, cmd) in cmds {
                    pipe.add_command(cmd).ignore();
                }
                let mut c = c.clone();
                return pipe
                    .query_async::<()>(&mut c)
                    .await
                    .map_err(|e| self.err(e));
            }
            Conn::Cluster(c) => c,
        };
        let mut by_slot: HashMap<Slot, Pipeline> = HashMap::new();
        for (key, cmd) in cmds {
            by_slot
                .entry(Slot::for_key(key.as_bytes()))
                .or_insert_with(redis::pipe)
                .add_command(cmd)
                .ignore();
        }
        let mut pending = by_slot.into_values();
        let mut running = tokio::task::JoinSet::new();
        loop {
            while running.len() < CLUSTER_PARALLEL {
                let Some(pipe) = pending.next() else { break };
                let mut c = cluster.clone();
                running.spawn(async move { pipe.query_async::<()>(&mut c).await });
            }
            let Some(done) = running.join_next().await else {
                return Ok(());
            };
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(self.err(e)),
                Err(e) => {
                    return Err(StoreError::Backend {
                        url: self.url.clone(),
                        reason: format!("a pipeline task failed: {e}"),
                    });
                }
            }
        }
    }

    fn err(&self, e: RedisError) -> StoreError {
        match (&self.conn, store_error(&self.url, &e)) {
            // On a cluster, a redirection the client could not follow: to a master that just
            // died and whose replica is not promoted yet, or mid-resharding. It passes when
            // the slot map settles. (On one server, MOVED means the URL names a cluster node:
            // a configuration error, left as classified.)
            (Conn::Cluster(_), StoreError::Backend { url, reason }) if redirected(&e) => {
                StoreError::Unavailable { url, reason }
            }
            (_, err) => err,
        }
    }

    pub(crate) async fn put_chunks(&self, items: Vec<(ChunkKey, Vec<u8>)>) -> Result<()> {
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
            let mut data = Vec::with_capacity(group.len() + 2);
            let mut registries = BTreeSet::new();
            for (key, chunk) in group {
                let name = key.chunk_key();
                let mut set = redis::cmd("SET");
                set.arg(&name).arg(chunk.as_slice());
                data.push((name, set));
                registries.insert((symbols_key(key.dataset, key.kind), key.symbol.to_string()));
                registries.insert((kinds_key(key.dataset), key.kind.to_string()));
            }
            for (registry, member) in registries {
                let mut zadd = redis::cmd("ZADD");
                zadd.arg(&registry).arg(0).arg(member);
                data.push((registry, zadd));
            }
            self.send(data).await?;
            let mut commit = Vec::with_capacity(group.len());
            for (key, _) in group {
                let day = key.day.yyyymmdd();
                let index = key.index_key();
                let mut zadd = redis::cmd("ZADD");
                zadd.arg(&index).arg(day).arg(day);
                commit.push((index, zadd));
            }
            self.send(commit).await?;
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
        series: &SeriesName,
        lo: u32,
        hi: u32,
    ) -> Result<Vec<(u32, u64)>> {
        let mut conn = self.conn.clone();
        let key = series.index();
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

    /// The stored size of each chunk, one STRLEN each, pipelined (the keys of one series:
    /// one hash slot).
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

    /// Registers `symbols` under `kind`, and `kind` in the dataset (what `put_chunks` does
    /// with each chunk): one ZADD a member, as SSDB takes them.
    pub(crate) async fn register(
        &self,
        ds: Dataset,
        kind: String,
        symbols: Vec<String>,
    ) -> Result<()> {
        let mut data = Vec::with_capacity(symbols.len() + 1);
        let key = symbols_key(ds, &kind);
        for s in symbols {
            let mut zadd = redis::cmd("ZADD");
            zadd.arg(&key).arg(0).arg(s);
            data.push((key.clone(), zadd));
        }
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(kinds_key(ds)).arg(0).arg(&kind);
        data.push((kinds_key(ds), zadd));
        self.send(data).await
    }

    pub(crate) async fn symbols(&self, ds: Dataset, kind: &str) -> Result<Vec<String>> {
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

    /// The layout marker, as stored.
    pub(crate) async fn layout(&self) -> Result<Option<Vec<u8>>> {
        let mut conn = self.conn.clone();
        redis::cmd("GET")
            .arg(LAYOUT_KEY)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(e))
    }

    /// Writes the layout marker.
    pub(crate) async fn set_layout(&self, version: String) -> Result<()> {
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(LAYOUT_KEY)
            .arg(version)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(e))
    }

    /// Removes a series by name: its index first (readers stop seeing it), then the chunks
    /// of `days` (which may name days no longer indexed), then, if `unregister`, its symbol
    /// registry entry.
    pub(crate) async fn remove_series(
        &self,
        series: SeriesName,
        days: Vec<u32>,
        unregister: bool,
    ) -> Result<()> {
        // ZREM member by member, not DEL of the zset: SSDB's DEL removes only strings.
        let mut conn = self.conn.clone();
        let index = series.index();
        for group in days.chunks(READ_BATCH) {
            let mut zrem = redis::cmd("ZREM");
            zrem.arg(&index);
            for d in group {
                zrem.arg(*d);
            }
            let _: i64 = zrem.query_async(&mut conn).await.map_err(|e| self.err(e))?;
        }
        for group in days.chunks(READ_BATCH) {
            let mut del = redis::cmd("DEL");
            for d in group {
                del.arg(series.chunk(*d));
            }
            let _: i64 = del.query_async(&mut conn).await.map_err(|e| self.err(e))?;
        }
        if unregister {
            let _: i64 = redis::cmd("ZREM")
                .arg(symbols_key(series.ds, &series.kind))
                .arg(&series.symbol)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Removes a kind by name from a dataset's registry (its series removed before).
    pub(crate) async fn remove_kind(&self, ds: Dataset, kind: String) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("ZREM")
            .arg(kinds_key(ds))
            .arg(&kind)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// Whether `e` is a `MOVED` or `ASK` redirection.
fn redirected(e: &RedisError) -> bool {
    use redis::ServerErrorKind as S;
    matches!(e.kind(), redis::ErrorKind::Server(S::Moved | S::Ask))
}

/// Whether `e` is a server refusing `SELECT` as an unknown command (SSDB answers
/// "Unknown Command: select"; a Redis with SELECT renamed away, "unknown command 'SELECT'").
fn no_select(e: &RedisError) -> bool {
    let text = server_line_of(e).to_ascii_lowercase();
    text.contains("unknown command") && text.contains("select")
}

/// The server's own words in `e`, or the library's message when the server sent none.
fn server_line_of(e: &RedisError) -> String {
    sent_errors(e).map_or_else(
        || {
            e.detail()
                .map_or_else(|| e.to_string(), |d| d.trim().to_owned())
        },
        |(line, _)| line,
    )
}

/// What the server sent in `e`, and the code of its (first) error: its one error, or the
/// first of a pipeline's with how many more; `None` when the error is not the server's (I/O,
/// protocol).
fn sent_errors(e: &RedisError) -> Option<(String, String)> {
    let sent = e.clone().into_server_errors()?;
    let (_, first) = sent.first()?;
    let line = match sent.len() {
        1 => server_line(first),
        n => format!(
            "{} (and {} more in the pipeline)",
            server_line(first),
            n - 1
        ),
    };
    Some((line, first.code().to_owned()))
}

/// A redis error as a [`StoreError`] of the store at `url` (password removed), as
/// [`classify`] decides.
fn store_error(url: &str, e: &RedisError) -> StoreError {
    let (reason, code) = match sent_errors(e) {
        Some((line, code)) => (line, Some(code)),
        None => (e.to_string(), None),
    };
    let url = url.to_owned();
    match classify(e.kind(), code.as_deref()) {
        ErrorKind::Unavailable => StoreError::Unavailable { url, reason },
        _ => StoreError::Backend { url, reason },
    }
}

/// A server's error as it sent it: `LOADING Redis is loading the dataset in memory`.
fn server_line(e: &ServerError) -> String {
    match e.details() {
        Some(detail) => format!("{} {detail}", e.code()),
        None => e.code().to_owned(),
    }
}

/// What a redis error means for the store's callers: [`ErrorKind::Unavailable`] when the
/// store cannot serve now but will without anyone acting (retry later: HTTP 503 with
/// `Retry-After`, `#BUSY!`; the fetch waits and retries), [`ErrorKind::Internal`] when a bug,
/// a wrong command for this server, or the operator's configuration is at fault (retrying
/// will not help: HTTP 500; the run stops). No redis error is the caller's bad argument:
/// [`crate::Store`] checks arguments before a command is sent. `code` is the server's error
/// code (`LOADING`, `NOAUTH`, ...), when the server sent one.
fn classify(kind: redis::ErrorKind, code: Option<&str>) -> ErrorKind {
    use redis::ErrorKind as R;
    use redis::ServerErrorKind as S;
    match kind {
        // Not reachable, refused, reset, timed out: down or restarting.
        R::Io => ErrorKind::Unavailable,
        // Sentinel or cluster discovery found no node to talk to: a failover in progress.
        R::ClusterConnectionNotFound
        | R::MasterNameNotFoundBySentinel
        | R::NoValidReplicasFoundBySentinel => ErrorKind::Unavailable,
        // Our bugs, or a configuration only an operator can fix: a reply of an unexpected
        // type (foreign data at our keys), an unparsable reply, a rejected URL, a refused
        // password, RESP3 asked of an old server.
        R::Parse
        | R::UnexpectedReturnType
        | R::Client
        | R::InvalidClientConfig
        | R::AuthenticationFailed
        | R::EmptySentinelList
        | R::RESP3NotSupported => ErrorKind::Internal,
        R::Server(server) => match server {
            // Up but not serving until it finishes something: loading its data after a
            // restart (Redis, Kvrocks restoring a backup), resharding, failing over, or a
            // write reaching the old master that a failover made a replica.
            S::BusyLoading | S::TryAgain | S::ClusterDown | S::MasterDown | S::ReadOnly => {
                ErrorKind::Unavailable
            }
            // A command wrong for this server or these keys (ERR: a bug, or a server that
            // lacks the command; Kvrocks and SSDB send most errors as ERR), commands we never
            // send, a URL naming a cluster node (MOVED, ASK, CROSSSLOT), an ACL that denies
            // our commands (NOPERM).
            S::ResponseError
            | S::ExecAbort
            | S::NoScript
            | S::Moved
            | S::Ask
            | S::CrossSlot
            | S::NotBusy
            | S::NoSub
            | S::NoPerm => ErrorKind::Internal,
            // A server error kind added by a redis upgrade: a failure until classified above.
            _ => ErrorKind::Internal,
        },
        // An error code the library passes through.
        R::Extension => match code {
            // Busy running a script, or waiting for replicas to acknowledge: both pass.
            Some("BUSY" | "NOREPLICAS") => ErrorKind::Unavailable,
            // WRONGTYPE (foreign data at our keys), NOAUTH and WRONGPASS (the password), OOM
            // (full, evicting nothing), MISCONF (cannot persist): an operator must act.
            _ => ErrorKind::Internal,
        },
        // A kind added by a redis upgrade (or behind a feature we do not enable): a failure
        // until classified above.
        _ => ErrorKind::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error the library makes of a reply line a server sent.
    fn reply(line: &str) -> RedisError {
        let wire = format!("-{line}\r\n");
        match redis::parse_redis_value(wire.as_bytes()).and_then(redis::Value::extract_error) {
            Err(e) => e,
            Ok(v) => panic!("{line:?} parsed as {v:?}, not an error"),
        }
    }

    fn kind_of(e: &RedisError) -> ErrorKind {
        store_error("redis://127.0.0.1:6379/0", e).kind()
    }

    #[test]
    fn every_server_error_code_is_classified() {
        use ErrorKind::{Internal, Unavailable};
        let table = [
            // Redis and Valkey, each code the library knows, then codes it passes through.
            (
                "LOADING Redis is loading the dataset in memory",
                Unavailable,
            ),
            (
                "TRYAGAIN Multiple keys request during rehashing of slot",
                Unavailable,
            ),
            ("CLUSTERDOWN The cluster is down", Unavailable),
            ("MASTERDOWN Link with MASTER is down", Unavailable),
            (
                "READONLY You can't write against a read only replica.",
                Unavailable,
            ),
            ("BUSY Redis is busy running a script.", Unavailable),
            ("NOREPLICAS Not enough good replicas to write.", Unavailable),
            ("ERR unknown command 'ZADD'", Internal),
            ("EXECABORT Transaction discarded", Internal),
            ("NOSCRIPT No matching script.", Internal),
            ("MOVED 3999 127.0.0.1:6381", Internal),
            ("ASK 3999 127.0.0.1:6381", Internal),
            (
                "CROSSSLOT Keys in request don't hash to the same slot",
                Internal,
            ),
            ("NOTBUSY No scripts in execution right now.", Internal),
            ("NOSUB not subscribed", Internal),
            (
                "NOPERM this user has no permissions to run the 'mget' command",
                Internal,
            ),
            (
                "WRONGTYPE Operation against a key holding the wrong kind of value",
                Internal,
            ),
            ("NOAUTH Authentication required.", Internal),
            (
                "WRONGPASS invalid username-password pair or user is disabled.",
                Internal,
            ),
            (
                "OOM command not allowed when used memory > 'maxmemory'.",
                Internal,
            ),
            (
                "MISCONF Redis is configured to save RDB snapshots",
                Internal,
            ),
            // Kvrocks: LOADING while restoring a backup; most other errors as ERR text.
            (
                "LOADING kvrocks is restoring the db from backup",
                Unavailable,
            ),
            ("ERR reach space limit", Internal),
            // SSDB: ERR for error, fail and client_error; NOAUTH.
            ("ERR server error", Internal),
            ("NOAUTH authentication required", Internal),
        ];
        for (line, want) in table {
            assert_eq!(kind_of(&reply(line)), want, "{line}");
        }
    }

    #[test]
    fn every_client_side_kind_is_classified() {
        use ErrorKind::{Internal, Unavailable};
        use redis::ErrorKind as R;
        let table = [
            (R::Io, Unavailable),
            (R::ClusterConnectionNotFound, Unavailable),
            (R::MasterNameNotFoundBySentinel, Unavailable),
            (R::NoValidReplicasFoundBySentinel, Unavailable),
            (R::Parse, Internal),
            (R::UnexpectedReturnType, Internal),
            (R::Client, Internal),
            (R::InvalidClientConfig, Internal),
            (R::AuthenticationFailed, Internal),
            (R::EmptySentinelList, Internal),
            (R::RESP3NotSupported, Internal),
            (R::Extension, Internal),
        ];
        for (kind, want) in table {
            let e = RedisError::from((kind, "what went wrong"));
            assert_eq!(kind_of(&e), want, "{kind:?}");
        }
        for io in [
            std::io::ErrorKind::ConnectionRefused,
            std::io::ErrorKind::ConnectionReset,
            std::io::ErrorKind::BrokenPipe,
            std::io::ErrorKind::TimedOut,
            std::io::ErrorKind::UnexpectedEof,
        ] {
            let e = RedisError::from(std::io::Error::from(io));
            assert_eq!(kind_of(&e), Unavailable, "{io:?}");
        }
    }

    #[test]
    fn the_reason_is_the_server_line() {
        let e = store_error(
            "redis://db:6379/0",
            &reply("LOADING Redis is loading the dataset"),
        );
        assert_eq!(
            e.to_string(),
            "store redis://db:6379/0 is unavailable: LOADING Redis is loading the dataset"
        );
    }

    /// A restarted redis loading its append-only file answers LOADING to a single command
    /// and to every command of a pipeline; both are the store being unavailable, so the fetch
    /// waits for it (it retries `Unavailable` writes) instead of stopping.
    #[tokio::test]
    async fn a_store_loading_its_data_is_unavailable() {
        let mut server =
            crate::testing::RedisServer::start_with(&["--key-load-delay", "200"]).unwrap();
        let url = server.url(0);
        let store = Resp::open(&StoreUrl::parse(&url).unwrap(), &url)
            .await
            .unwrap();
        // Enough keys that reloading them takes seconds (the loading server answers clients
        // every 1024 keys it replays).
        let mut fill = redis::pipe();
        for i in 0..10_000 {
            fill.cmd("SET").arg(format!("filler:{i}")).arg(i).ignore();
        }
        let mut conn = store.conn.clone();
        fill.query_async::<()>(&mut conn).await.unwrap();
        server.restart_loading().unwrap();

        // The first commands find the old connection broken (unavailable too); then LOADING.
        let mut tries = 0;
        let reason = loop {
            tries += 1;
            match store.symbols(Dataset::Feed, "trade").await {
                Err(StoreError::Unavailable { reason, .. }) if reason.starts_with("LOADING") => {
                    break reason;
                }
                Err(StoreError::Unavailable { .. }) if tries < 20 => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => panic!("a single command while loading (try {tries}): {other:?}"),
            }
        };
        assert_eq!(reason, "LOADING Redis is loading the dataset in memory");
        let chunk = |day: &str| {
            let key = ChunkKey::new(
                Dataset::Feed,
                crate::Kind::Trade,
                "AAPL".parse().unwrap(),
                xlfeed_core::TradingDay::parse(day).unwrap(),
            );
            (key, vec![0u8; 16])
        };
        let put = store
            .put_chunks(vec![chunk("2024-06-27"), chunk("2024-06-28")])
            .await;
        match put {
            Err(StoreError::Unavailable { reason, .. }) => {
                assert!(reason.starts_with("LOADING"), "{reason}");
                // Two SETs and the two registries' ZADDs.
                assert!(reason.ends_with("(and 3 more in the pipeline)"), "{reason}");
            }
            other => panic!("a pipeline while loading: {other:?}"),
        }
    }
}
