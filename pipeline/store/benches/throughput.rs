//! Whole-process throughput of the store, against its peer on the same server in the same run.
//!
//! One symbol-day of 100,000 realistic ticks, encoded as one chunk, is written as many
//! distinct days and read back through `Store` on both backends: the embedded store (fjall in
//! a temporary directory) and a `redis-server` this bench starts. Writes are timed one chunk
//! per `put_chunks` call and 16 per call, reads the same way with `get_chunks`. In the same
//! run, against that same server, `redis-benchmark` SETs and GETs values of the chunk's size:
//! the most a Redis client gets out of this server, and the table reports the store's share.
//! Every repetition starts from empty stores; each figure is the median of the repetitions.
//!
//! Run: `cargo bench -p xlfeed-store --bench throughput`; it prints a markdown table for
//! `docs/BENCHMARKS.md`. Progress goes to stderr.
//!
//! Environment: `XLFEED_BENCH_QUICK=1` for a short run (32 days, 3 repetitions, shorter
//! redis-benchmark runs); `XLFEED_BENCH_DAYS` and `XLFEED_BENCH_REPS` set those directly;
//! `XLFEED_BENCH_AOF=everysec` (or `no`) relaxes the server's `appendfsync always` for the
//! whole run, and `XLFEED_BENCH_AOF=off` turns the append-only file off, to see the client
//! side once the disk no longer sets the pace.
//! Without `--bench` on its command line, as `cargo test --benches` runs it, it makes one
//! pass over two days to prove it works, and exits.

use std::error::Error;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use xlfeed_core::{Symbol, TradingDay};
use xlfeed_store::testing::RedisServer;
use xlfeed_store::{ChunkKey, Dataset, Kind, Store, codec, synth};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Ticks in the symbol-day: a busy stock's session.
const TICKS: usize = 100_000;
/// Chunks per call in the batched phases, and requests per pipeline in redis-benchmark.
const BATCH: usize = 16;
/// The first day written; the others follow, one calendar day apart.
const FIRST_DAY: u32 = 20_240_102;
/// The client counts redis-benchmark runs with: one connection like the store's, and its
/// default of 50.
const CLIENTS: [u32; 2] = [1, 50];
/// The AOF size past which the bench rewrites it between timed phases.
const AOF_REWRITE_BYTES: u64 = 64 << 20;
/// The diagnostic row of `put_chunks`'s commands sent as it sends them.
const WIRE_TWO: &str = "redis-rs, resp.rs commands, 2 round trips (diagnostic)";
/// The diagnostic row of the same commands in one pipeline.
const WIRE_ONE: &str = "redis-rs, same commands, 1 round trip (diagnostic)";

/// How much to measure.
struct Plan {
    /// Distinct days written per phase.
    days: usize,
    /// Repetitions; figures are their medians.
    reps: usize,
    /// Chunks per call in the batched phases.
    batch: usize,
    /// Bytes one redis-benchmark SET run sends (its `-n` is this over the value size).
    set_budget: usize,
    /// Bytes one redis-benchmark GET run receives.
    get_budget: usize,
    /// The server's `appendfsync` (or `off`: no append-only file), if the run changes it.
    aof: Option<String>,
    /// The environment variables that shaped the plan, for the command line shown.
    env: Vec<String>,
    /// A pass to prove the bench works, not a measurement.
    smoke: bool,
}

fn env_count(name: &str) -> Result<Option<usize>> {
    match std::env::var(name) {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(format!("{name}={v:?} is not a positive whole number").into()),
        },
        Err(_) => Ok(None),
    }
}

impl Plan {
    fn from_env() -> Result<Plan> {
        if !std::env::args().any(|a| a == "--bench") {
            return Ok(Plan {
                days: 2,
                reps: 1,
                batch: 2,
                set_budget: 0,
                get_budget: 0,
                aof: None,
                env: Vec::new(),
                smoke: true,
            });
        }
        let quick = std::env::var("XLFEED_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let mut plan = if quick {
            Plan {
                days: 32,
                reps: 3,
                batch: BATCH,
                set_budget: 200 << 20,
                get_budget: 400 << 20,
                aof: None,
                env: vec!["XLFEED_BENCH_QUICK=1".into()],
                smoke: false,
            }
        } else {
            Plan {
                days: 200,
                reps: 5,
                batch: BATCH,
                set_budget: 1 << 30,
                get_budget: 2 << 30,
                aof: None,
                env: Vec::new(),
                smoke: false,
            }
        };
        if let Some(days) = env_count("XLFEED_BENCH_DAYS")? {
            plan.days = days;
            plan.env.push(format!("XLFEED_BENCH_DAYS={days}"));
        }
        if let Some(reps) = env_count("XLFEED_BENCH_REPS")? {
            plan.reps = reps;
            plan.env.push(format!("XLFEED_BENCH_REPS={reps}"));
        }
        if let Ok(v) = std::env::var("XLFEED_BENCH_AOF") {
            if !["always", "everysec", "no", "off"].contains(&v.as_str()) {
                return Err(format!(
                    "XLFEED_BENCH_AOF={v:?} is not one of always, everysec, no, off"
                )
                .into());
            }
            plan.env.push(format!("XLFEED_BENCH_AOF={v}"));
            plan.aof = Some(v);
        }
        plan.batch = plan.batch.min(plan.days);
        Ok(plan)
    }

    /// redis-benchmark's `-n` for a run that moves `budget` bytes of `size`-byte values: a
    /// whole number of pipelines per client, at least four each so that connecting and the
    /// last stragglers do not dominate.
    fn requests(&self, budget: usize, size: usize, clients: u32) -> usize {
        let per_round = BATCH * clients as usize;
        (budget / size.max(1)).div_ceil(per_round).max(4) * per_round
    }
}

/// The rate of one measured thing in each repetition: chunks (or requests) per second.
struct Row {
    source: String,
    op: &'static str,
    per_call: usize,
    rates: Vec<f64>,
}

impl Row {
    fn median(&self) -> f64 {
        let mut v = self.rates.clone();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// Max minus min over the median, in percent: how noisy the repetitions were.
    fn spread(&self) -> f64 {
        let lo = self.rates.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self.rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        100.0 * (hi - lo) / self.median()
    }
}

/// Every figure of the run, in the order first measured.
#[derive(Default)]
struct Figures {
    rows: Vec<Row>,
    /// AOF rewrites redis-server started while each group of phases ran.
    rewrites: Vec<(&'static str, u64)>,
}

impl Figures {
    fn count_rewrites(&mut self, group: &'static str, n: u64) {
        match self.rewrites.iter_mut().find(|(g, _)| *g == group) {
            Some((_, total)) => *total += n,
            None => self.rewrites.push((group, n)),
        }
    }

    fn add(&mut self, source: &str, op: &'static str, per_call: usize, rate: f64) {
        match self
            .rows
            .iter_mut()
            .find(|r| r.source == source && r.op == op && r.per_call == per_call)
        {
            Some(row) => row.rates.push(rate),
            None => self.rows.push(Row {
                source: source.to_owned(),
                op,
                per_call,
                rates: vec![rate],
            }),
        }
    }

    fn timed(&mut self, source: &str, op: &'static str, per_call: usize, n: usize, t: Duration) {
        self.add(source, op, per_call, n as f64 / t.as_secs_f64());
    }

    fn median(&self, source: &str, op: &str, per_call: usize) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.source == source && r.op == op && r.per_call == per_call)
            .map(Row::median)
    }
}

/// `days` consecutive days of one symbol, from [`FIRST_DAY`].
fn day_keys(symbol: &str, days: usize) -> Result<Vec<ChunkKey>> {
    let symbol = Symbol::parse(symbol)?;
    let mut day = TradingDay::from_yyyymmdd(FIRST_DAY)?;
    let mut keys = Vec::with_capacity(days);
    for _ in 0..days {
        keys.push(ChunkKey::new(
            Dataset::Feed,
            Kind::Trade,
            symbol.clone(),
            day,
        ));
        day = day.succ().ok_or("ran out of calendar days")?;
    }
    Ok(keys)
}

/// The write calls of a phase, built before the clock starts so copying the chunk is not timed.
fn calls(keys: &[ChunkKey], chunk: &[u8], per_call: usize) -> Vec<Vec<(ChunkKey, Vec<u8>)>> {
    keys.chunks(per_call)
        .map(|group| group.iter().map(|k| (k.clone(), chunk.to_vec())).collect())
        .collect()
}

fn check_read(got: Vec<Option<Vec<u8>>>, keys: &[ChunkKey], len: usize) -> Result<()> {
    for (key, chunk) in keys.iter().zip(got) {
        match chunk {
            Some(c) if c.len() == len => {}
            Some(c) => return Err(format!("{key} read back {} bytes, wrote {len}", c.len()).into()),
            None => return Err(format!("{key} was written but reads back as missing").into()),
        }
    }
    Ok(())
}

/// One repetition of the four store phases: write one chunk per call, write a batch per call
/// (other days), then read the batched days back one per call and a batch per call.
async fn store_phases(
    store: &Store,
    source: &str,
    chunk: &[u8],
    plan: &Plan,
    server: &mut Server,
    figures: &mut Figures,
) -> Result<()> {
    let n = plan.days;
    for (symbol, per_call) in [("ONE", 1), ("BATCH", plan.batch)] {
        let writes = calls(&day_keys(symbol, n)?, chunk, per_call);
        server.settle().await?;
        let t = Instant::now();
        for items in writes {
            store.put_chunks(items).await?;
        }
        figures.timed(source, "write", per_call, n, t.elapsed());
    }
    let keys = day_keys("BATCH", n)?;
    for per_call in [1, plan.batch] {
        server.settle().await?;
        let t = Instant::now();
        for group in keys.chunks(per_call) {
            check_read(store.get_chunks(group).await?, group, chunk.len())?;
        }
        figures.timed(source, "read", per_call, n, t.elapsed());
    }
    Ok(())
}

/// Diagnostic: resp.rs's commands for the same chunks sent straight through redis-rs, as two
/// round trips (chunks and registries, then index entries, as `put_chunks` does) and as one
/// pipeline, to tell the store's own costs and its second round trip apart from the wire.
async fn wire_phases(
    server: &mut Server,
    chunk: &[u8],
    plan: &Plan,
    figures: &mut Figures,
) -> Result<()> {
    for (source, round_trips) in [(WIRE_TWO, 2), (WIRE_ONE, 1)] {
        for per_call in [1, plan.batch] {
            let keys = day_keys(&format!("WIRE{per_call}"), plan.days)?;
            server.settle().await?;
            let conn = &mut server.admin;
            let t = Instant::now();
            for group in keys.chunks(per_call) {
                let mut data = redis::pipe();
                for k in group {
                    data.cmd("SET").arg(k.chunk_key()).arg(chunk).ignore();
                    data.cmd("ZADD")
                        .arg("sym:feed:trade")
                        .arg(0)
                        .arg(k.symbol.as_str())
                        .ignore();
                    data.cmd("ZADD")
                        .arg("kinds:feed")
                        .arg(0)
                        .arg("trade")
                        .ignore();
                }
                let mut commit = redis::pipe();
                let index = if round_trips == 2 {
                    &mut commit
                } else {
                    &mut data
                };
                for k in group {
                    let day = k.day.yyyymmdd();
                    index
                        .cmd("ZADD")
                        .arg(k.index_key())
                        .arg(day)
                        .arg(day)
                        .ignore();
                }
                data.query_async::<()>(conn).await?;
                if round_trips == 2 {
                    commit.query_async::<()>(conn).await?;
                }
            }
            figures.timed(source, "write", per_call, plan.days, t.elapsed());
        }
        server.flush().await?;
    }
    Ok(())
}

/// The redis-benchmark command line for one test. Without `-r` every request uses one key, so
/// the data set stays one value: the best case for the peer, which is what a ceiling should be.
fn redis_benchmark_args(port: u16, clients: u32, test: &str, size: usize, n: usize) -> Vec<String> {
    [
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-P",
        &BATCH.to_string(),
        "-c",
        &clients.to_string(),
        "-t",
        test,
        "-d",
        &size.to_string(),
        "-n",
        &n.to_string(),
        "-q",
        "--csv",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Runs redis-benchmark and returns the requests per second it reports for `test`.
async fn redis_benchmark(args: &[String], test: &str) -> Result<f64> {
    let out = tokio::process::Command::new("redis-benchmark")
        .args(args)
        .output()
        .await
        .map_err(|e| format!("cannot run redis-benchmark (apt-get install redis-tools): {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "redis-benchmark {} exited with {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    // CSV: a header, then "SET","<requests per second>",<latencies>...
    let quoted = format!("\"{}\"", test.to_uppercase());
    stdout
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(',');
            (fields.next()? == quoted)
                .then(|| fields.next()?.trim_matches('"').parse::<f64>().ok())
                .flatten()
        })
        .next()
        .ok_or_else(|| format!("redis-benchmark printed no {test} figure: {stdout:?}").into())
}

/// One repetition of redis-benchmark SET then GET for each client count.
async fn peer_phases(
    server: &mut Server,
    size: usize,
    plan: &Plan,
    figures: &mut Figures,
    commands: &mut Vec<String>,
) -> Result<()> {
    for clients in CLIENTS {
        for (test, budget) in [("set", plan.set_budget), ("get", plan.get_budget)] {
            let n = plan.requests(budget, size, clients);
            let args = redis_benchmark_args(server.port, clients, test, size, n);
            server.settle().await?;
            let before = server.aof_rewrites().await?;
            let rps = redis_benchmark(&args, test).await?;
            let rewrites = server.aof_rewrites().await?.saturating_sub(before);
            figures.count_rewrites("redis-benchmark", rewrites);
            let line = format!("redis-benchmark {}", args.join(" "));
            if !commands.contains(&line) {
                commands.push(line);
            }
            let op = if test == "set" { "write" } else { "read" };
            figures.add(&peer_source(clients), op, BATCH, rps);
        }
    }
    Ok(())
}

fn peer_source(clients: u32) -> String {
    format!("redis-benchmark -c {clients} -P {BATCH}")
}

/// The CPU model, core count and memory of this machine.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|x| x.1))
        .map_or("unknown CPU", str::trim);
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    format!(
        "{model}, nproc {cores}, {:.1} GiB memory",
        mem_kib as f64 / f64::from(1u32 << 20)
    )
}

fn redis_version() -> String {
    std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.split_whitespace()
                .find_map(|w| w.strip_prefix("v=").map(str::to_owned))
        })
        .unwrap_or_else(|| "unknown version".into())
}

fn group(n: f64) -> String {
    let s = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The markdown report.
fn report(plan: &Plan, chunk_len: usize, figures: &Figures, commands: &[String]) -> String {
    let mb = |rate: f64| rate * chunk_len as f64 / 1e6;
    let mut s = String::new();
    let env = plan.env.iter().map(|e| format!("{e} ")).collect::<String>();
    let _ = writeln!(
        s,
        "\n### Store throughput: one symbol-day of {} ticks\n",
        group(TICKS as f64)
    );
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| machine | {} |", machine());
    let _ = writeln!(
        s,
        "| command | `{env}cargo bench -p xlfeed-store --bench throughput` |"
    );
    let _ = writeln!(
        s,
        "| data | `synth::trades({}, 185.0, 42)` encoded: one chunk of {} bytes ({:.2} bytes/tick) |",
        group(TICKS as f64),
        group(chunk_len as f64),
        chunk_len as f64 / TICKS as f64
    );
    let _ = writeln!(
        s,
        "| workload | per phase {} distinct days of one symbol, written one per `put_chunks` call or {} per call, read back one per `get_chunks` call or {} per call; one task, calls in sequence |",
        plan.days, plan.batch, plan.batch
    );
    let _ = writeln!(
        s,
        "| figures | median of {} repetitions, each from empty stores; spread = (max - min) / median |",
        plan.reps
    );
    let _ = writeln!(
        s,
        "| embedded | fjall in a temp dir, each put committed with `PersistMode::SyncAll` |"
    );
    let _ = writeln!(
        s,
        "| redis | redis-server {} on 127.0.0.1, started by the bench (`testing::RedisServer`), {} |",
        redis_version(),
        match plan.aof.as_deref() {
            Some("off") => "appendonly no (`CONFIG SET` by the bench)".to_owned(),
            Some(v) => format!("appendonly yes, appendfsync {v} (`CONFIG SET` by the bench)"),
            None => "appendonly yes, appendfsync always".to_owned(),
        }
    );
    for c in commands {
        let _ = writeln!(s, "| peer | `{c}` |");
    }
    let _ = writeln!(
        s,
        "| fairness | automatic AOF rewrites off for the run; before each timed phase and each redis-benchmark run the bench rewrites the AOF if it passed {} MiB, waits for that, and runs `sync` |",
        AOF_REWRITE_BYTES >> 20
    );
    let rewrites = figures
        .rewrites
        .iter()
        .map(|(g, n)| format!("{g} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        s,
        "| AOF rewrites | while timed, over all repetitions (should be 0): {rewrites} |"
    );
    let _ = writeln!(
        s,
        "\n| source | op | chunks per call | chunks/s | MB/s | ticks/s | spread |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|");
    for r in &figures.rows {
        let m = r.median();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} | {:.1} | {} | {:.0}% |",
            r.source,
            r.op,
            r.per_call,
            m,
            mb(m),
            group(m * TICKS as f64),
            r.spread()
        );
    }
    let _ = writeln!(
        s,
        "\nredis-benchmark rows count requests (one value of the chunk's size each) as chunks; \
         their ticks/s is the equivalent in days of ticks.\n"
    );
    let _ = writeln!(
        s,
        "| store ÷ redis-benchmark (bytes/s) | {} | ceiling (best of {}) |",
        peer_source(CLIENTS[0]),
        CLIENTS
            .iter()
            .map(|c| format!("-c {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(s, "|---|---:|---:|");
    for (source, op) in [
        ("redis", "write"),
        ("redis", "read"),
        ("embedded", "write"),
        ("embedded", "read"),
    ] {
        let test = if op == "write" { "SET" } else { "GET" };
        let like = figures.median(&peer_source(CLIENTS[0]), op, BATCH);
        let best = CLIENTS
            .iter()
            .filter_map(|c| figures.median(&peer_source(*c), op, BATCH))
            .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
        for per_call in [1, plan.batch] {
            let Some(mine) = figures.median(source, op, per_call) else {
                continue;
            };
            let ratio =
                |peer: Option<f64>| peer.map_or("n/a".into(), |p| format!("{:.2}", mine / p));
            let _ = writeln!(
                s,
                "| {source} {op}, {per_call} per call ÷ {test} | {} | {} |",
                ratio(like),
                ratio(best)
            );
        }
    }
    s
}

/// A field of an INFO reply.
fn field<T: std::str::FromStr>(info: &str, name: &str) -> Option<T> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// The bench's redis-server, seen through an admin connection of its own.
struct Server {
    admin: ConnectionManager,
    port: u16,
    /// AOF rewrites the bench itself started, between timed phases.
    own_rewrites: u64,
}

impl Server {
    async fn info_persistence(&mut self) -> Result<String> {
        Ok(redis::cmd("INFO")
            .arg("persistence")
            .query_async::<String>(&mut self.admin)
            .await?)
    }

    /// AOF rewrites started since the server started, other than the bench's own.
    async fn aof_rewrites(&mut self) -> Result<u64> {
        let info = self.info_persistence().await?;
        let all: u64 = field(&info, "aof_rewrites")
            .ok_or_else(|| format!("INFO persistence has no aof_rewrites: {info:?}"))?;
        Ok(all.saturating_sub(self.own_rewrites))
    }

    /// Lets the machine quiet down before a timed phase: the AOF rewritten if it has grown
    /// (so that no timed phase pays for a rewrite, or for one an earlier phase set off), and
    /// dirty pages written back.
    async fn settle(&mut self) -> Result<()> {
        let info = self.info_persistence().await?;
        if field::<u64>(&info, "aof_enabled") == Some(1)
            && field::<u64>(&info, "aof_current_size").unwrap_or(0) > AOF_REWRITE_BYTES
            && field::<u64>(&info, "aof_rewrite_in_progress") == Some(0)
        {
            redis::cmd("BGREWRITEAOF")
                .query_async::<String>(&mut self.admin)
                .await?;
            self.own_rewrites += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let info = self.info_persistence().await?;
            let busy = field::<u64>(&info, "aof_rewrite_in_progress") == Some(1)
                || field::<u64>(&info, "aof_rewrite_scheduled") == Some(1);
            if !busy {
                break;
            }
            if Instant::now() > deadline {
                return Err("redis-server's AOF rewrite took over 300 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::process::Command::new("sync").status().await?;
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        Ok(redis::cmd("FLUSHDB")
            .query_async::<()>(&mut self.admin)
            .await?)
    }
}

async fn run(plan: &Plan, server: &RedisServer) -> Result<()> {
    let rows = synth::trades(TICKS, 185.0, 42);
    let chunk = codec::encode(&rows);
    eprintln!(
        "chunk of {TICKS} ticks: {} bytes; {} days per phase, {} repetitions",
        chunk.len(),
        plan.days,
        plan.reps
    );
    let mut figures = Figures::default();
    let mut commands = Vec::new();
    let redis_url = server.url(0);
    let redis = Store::open(&redis_url).await?;
    let admin = redis::Client::open(redis_url.as_str())?
        .get_connection_manager()
        .await?;
    let mut server = Server {
        admin,
        port: server.port(),
        own_rewrites: 0,
    };
    // Rewrites happen between timed phases instead (see `Server::settle`).
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("auto-aof-rewrite-percentage")
        .arg(0)
        .query_async::<()>(&mut server.admin)
        .await?;
    if let Some(v) = &plan.aof {
        let (name, value) = match v.as_str() {
            "off" => ("appendonly", "no"),
            v => ("appendfsync", v),
        };
        redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query_async::<()>(&mut server.admin)
            .await?;
    }
    for rep in 1..=plan.reps {
        eprintln!("repetition {rep}/{}: embedded", plan.reps);
        {
            let dir = tempfile::tempdir()?;
            let store = Store::open(&format!("embedded://{}", dir.path().display())).await?;
            store_phases(&store, "embedded", &chunk, plan, &mut server, &mut figures).await?;
        }
        eprintln!("repetition {rep}/{}: redis", plan.reps);
        let before = server.aof_rewrites().await?;
        store_phases(&redis, "redis", &chunk, plan, &mut server, &mut figures).await?;
        let rewrites = server.aof_rewrites().await?.saturating_sub(before);
        figures.count_rewrites("redis store", rewrites);
        server.flush().await?;
        let before = server.aof_rewrites().await?;
        wire_phases(&mut server, &chunk, plan, &mut figures).await?;
        let rewrites = server.aof_rewrites().await?.saturating_sub(before);
        figures.count_rewrites("diagnostics", rewrites);
        if plan.smoke {
            continue;
        }
        eprintln!("repetition {rep}/{}: redis-benchmark", plan.reps);
        peer_phases(&mut server, chunk.len(), plan, &mut figures, &mut commands).await?;
        server.flush().await?;
    }
    if plan.smoke {
        eprintln!("throughput: smoke pass done (run with `cargo bench` to measure)");
        return Ok(());
    }
    println!("{}", report(plan, chunk.len(), &figures, &commands));
    Ok(())
}

fn main() -> Result<()> {
    let plan = Plan::from_env()?;
    let server = RedisServer::start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(&plan, &server))
}
