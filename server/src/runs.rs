//! Pipeline runs started through the admin API (`/admin/v1/runs`): which arguments a run may
//! have, where its record lives, and what a restart finds.
//!
//! - **What a run may reach** ([`Policy`]): its stores are this server's own; the files and
//!   folders it reads or writes (`--symbols-file`, `--replay`, `--archive`) lie inside
//!   `runs.allowed_dirs` (symbolic links resolved first); its IQFeed gateway is one of
//!   `runs.iqfeed` (or the simulator); `--report` is the server's to set. Anything else is a
//!   400 naming the option and the value.
//! - **Where runs are kept**: `runs.dir`, a folder of the server's own (made with mode 0700;
//!   refused if another user owns it). Each run is one file, `run-<id>.json`, created new
//!   (its id is claimed by creating it, so two servers sharing the folder never take the
//!   same id) and rewritten by rename when the run ends, with its report inside.
//! - **Restarts**: a live server holds a lock on `server-<instance>.lock` in the folder. On
//!   start-up a run recorded as running whose server's lock is free (the server died, kill
//!   -9 included) is marked `interrupted`.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use xlfeed_core::fsutil::{Access, write_atomically};
use xlfeed_core::quoted;
use xlfeed_pipeline::runs::{Reach, RunControl, Stage, check_args, reach};
use xlfeed_store::Dataset;
use xlfeed_store::StoreUrl;
use xlfeed_store::url::redact;

use crate::config::RunsSection;
use crate::query::Data;

/// Run records kept (the oldest beyond are deleted at start-up).
const KEEP: usize = 1000;
/// Runs listed by `GET /admin/v1/runs` at most (the newest).
pub const LIST_MAX: usize = 200;

/// What the arguments of a run may reach.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Canonical folders file options may name.
    dirs: Vec<PathBuf>,
    /// IQFeed gateways (`host:port`, lowercase).
    gateways: Vec<String>,
    /// This server's store URLs.
    stores: Vec<StoreUrl>,
}

impl Policy {
    /// The policy of `cfg` for a server over `stores`.
    pub fn new(cfg: &RunsSection, stores: Vec<StoreUrl>) -> anyhow::Result<Policy> {
        let dirs = cfg
            .allowed_dirs
            .iter()
            .map(|d| {
                d.canonicalize()
                    .with_context(|| format!("runs.allowed_dirs: {} is not a folder", d.display()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Policy {
            dirs,
            gateways: cfg
                .iqfeed
                .iter()
                .map(|g| g.trim().to_ascii_lowercase())
                .collect(),
            stores,
        })
    }

    /// Checks `args` of `stage`; the error names the option and its value.
    pub fn check(&self, stage: Stage, args: &[String]) -> Result<(), String> {
        if let Some(a) = args
            .iter()
            .find(|a| *a == "--report" || a.starts_with("--report="))
        {
            return Err(format!(
                "{}: a run's report is kept by the server (GET /admin/v1/runs/ID)",
                quoted(a)
            ));
        }
        check_args(stage, args)?;
        let Reach {
            reads,
            writes,
            stores,
            gateways,
        } = reach(stage, args)?;
        for (opt, url) in stores {
            let own = StoreUrl::parse(&url).is_ok_and(|u| self.stores.contains(&u));
            if !own {
                return Err(format!(
                    "{opt} {}: a run writes to this server's own stores only",
                    quoted(&redact(&url))
                ));
            }
        }
        for (opt, gw) in gateways {
            if !self.gateways.contains(&gw.trim().to_ascii_lowercase()) {
                return Err(format!(
                    "{opt} {}: not an IQFeed gateway this server may reach (runs.iqfeed); use --sim or a listed one",
                    quoted(&gw)
                ));
            }
        }
        for (opt, p) in reads {
            let real = p
                .canonicalize()
                .map_err(|e| format!("{opt} {}: {e}", quoted(&p.display().to_string())))?;
            self.inside(opt, &p, &real)?;
        }
        for (opt, p) in writes {
            self.inside(opt, &p, &resolve_new(&p))?;
        }
        Ok(())
    }

    fn inside(&self, opt: &str, given: &Path, real: &Path) -> Result<(), String> {
        if self.dirs.iter().any(|d| real.starts_with(d)) {
            return Ok(());
        }
        Err(format!(
            "{opt} {}: outside the folders runs may use (runs.allowed_dirs{})",
            quoted(&given.display().to_string()),
            if self.dirs.is_empty() {
                ": none configured"
            } else {
                ""
            }
        ))
    }
}

/// Where `p` is or would be made: its longest existing ancestor with links resolved, then
/// the rest. A path with `..` in it resolves to nowhere allowed (`/..`).
fn resolve_new(p: &Path) -> PathBuf {
    if p.components().any(|c| c == std::path::Component::ParentDir) {
        return PathBuf::from("/..");
    }
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent;
            }
            _ => break,
        }
    }
    let mut out = existing
        .canonicalize()
        .unwrap_or_else(|_| existing.to_path_buf());
    for name in rest.into_iter().rev() {
        out.push(name);
    }
    out
}

/// One run: started here, or found on disk.
struct Run {
    id: u64,
    /// Its record as last written (or read).
    record: Value,
    /// The live control of a run started by this process.
    control: Option<RunControl>,
}

/// The runs of this server (and those found in its folder).
pub struct Runs {
    dir: PathBuf,
    instance: String,
    _lock: File,
    policy: Policy,
    runs: Mutex<Vec<Run>>,
}

impl std::fmt::Debug for Runs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runs").field("dir", &self.dir).finish()
    }
}

impl Runs {
    /// Opens (making it if needed) the runs folder of `cfg` for a server over `data`'s
    /// stores: claims this server's lock, marks runs of dead servers interrupted, loads the
    /// records.
    pub fn open(cfg: &RunsSection, data: &Data) -> anyhow::Result<Runs> {
        let dir = private_dir(&cfg.dir)?;
        let instance = hex::encode(random_bytes::<6>()?);
        let lock_path = dir.join(format!("server-{instance}.lock"));
        let lock = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock_path)
            .with_context(|| format!("cannot create {}", lock_path.display()))?;
        lock.try_lock()
            .map_err(|e| anyhow!("cannot lock {}: {e}", lock_path.display()))?;
        let stores = [Dataset::Feed, Dataset::Post]
            .map(|ds| data.store(ds).location().clone())
            .to_vec();
        let runs = Runs {
            policy: Policy::new(cfg, stores)?,
            dir,
            instance,
            _lock: lock,
            runs: Mutex::default(),
        };
        runs.load()?;
        Ok(runs)
    }

    /// The folder of run records.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The argument policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Run>> {
        self.runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("run-{id}.json"))
    }

    /// Reads the records in the folder, marks those of dead servers interrupted, and keeps
    /// the newest [`KEEP`].
    fn load(&self) -> anyhow::Result<()> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_prefix("run-")
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                // A server's lock whose server is gone: tidy it away.
                if name.starts_with("server-")
                    && name.ends_with(".lock")
                    && !self.server_alive(&name)
                {
                    let _ = fs::remove_file(entry.path());
                }
                continue;
            };
            if !entry.file_type()?.is_file() {
                continue;
            }
            let record: Value = match fs::read(entry.path())
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                Some(v) => v,
                None => {
                    tracing::warn!(path = %entry.path().display(), "unreadable run record skipped");
                    continue;
                }
            };
            found.push((id, record));
        }
        found.sort_by_key(|(id, _)| *id);
        let excess = found.len().saturating_sub(KEEP);
        for (id, _) in found.drain(..excess) {
            let _ = fs::remove_file(self.record_path(id));
        }
        for (id, record) in &mut found {
            let server = record["server"].as_str().unwrap_or_default().to_owned();
            if record["status"] == json!("running")
                && !self.server_alive(&format!("server-{server}.lock"))
            {
                record["status"] = json!("interrupted");
                record["error"] = json!(
                    "the server running it stopped before it ended (what was committed is kept; run it again to finish)"
                );
                if let Err(e) = self.write_record(*id, record) {
                    tracing::warn!(error = %format!("{e:#}"), id, "cannot mark a run interrupted");
                }
            }
        }
        *self.lock() = found
            .into_iter()
            .map(|(id, record)| Run {
                id,
                record,
                control: None,
            })
            .collect();
        Ok(())
    }

    /// Whether the server whose lock file is `name` still runs (holds its lock).
    fn server_alive(&self, name: &str) -> bool {
        if name == format!("server-{}.lock", self.instance) {
            return true;
        }
        match File::open(self.dir.join(name)) {
            Ok(f) => match f.try_lock() {
                Ok(()) => false,
                Err(fs::TryLockError::WouldBlock) => true,
                Err(fs::TryLockError::Error(_)) => false,
            },
            Err(_) => false,
        }
    }

    /// Writes run `id`'s record whole (owner-only, like the folder).
    fn write_record(&self, id: u64, record: &Value) -> anyhow::Result<()> {
        write_atomically(
            &self.record_path(id),
            &serde_json::to_vec_pretty(record)?,
            Access::Private,
        )?;
        Ok(())
    }

    /// Claims a new id by creating its record file, and records the run as running.
    pub fn start(
        self: &Arc<Runs>,
        stage: Stage,
        args: &[String],
        control: RunControl,
    ) -> anyhow::Result<u64> {
        let mut id = self.lock().iter().map(|r| r.id).max().unwrap_or(0) + 1;
        let file = loop {
            match create_new(&self.record_path(id)) {
                Ok(f) => break f,
                Err(e)
                    if e.downcast_ref::<std::io::Error>().map(std::io::Error::kind)
                        == Some(std::io::ErrorKind::AlreadyExists) =>
                {
                    id += 1;
                }
                Err(e) => return Err(e),
            }
        };
        drop(file);
        let record = json!({
            "id": id,
            "stage": stage,
            "args": args.iter().map(|a| redact(a)).collect::<Vec<_>>(),
            "started": chrono::Utc::now().to_rfc3339(),
            "server": self.instance,
            "pid": std::process::id(),
            "status": "running",
        });
        self.write_record(id, &record)?;
        self.lock().push(Run {
            id,
            record,
            control: Some(control),
        });
        Ok(id)
    }

    /// Records the end of run `id`: its exit code (or error) and report.
    pub fn finish(&self, id: u64, result: Result<u8, String>) {
        let mut list = self.lock();
        let Some(run) = list.iter_mut().find(|r| r.id == id) else {
            return;
        };
        if let Some(c) = &run.control {
            let (status, code) = match &result {
                Ok(0) => ("complete", json!(0)),
                Ok(130) => ("cancelled", json!(130)),
                Ok(code) => ("ended with errors", json!(code)),
                Err(_) => ("failed", Value::Null),
            };
            run.record["status"] = json!(status);
            run.record["exit_code"] = code;
            run.record["error"] = result.err().map_or(Value::Null, Value::String);
            run.record["ended"] = json!(chrono::Utc::now().to_rfc3339());
            run.record["progress"] = progress(c);
            run.record["report"] = c.report.lock().ok().and_then(|g| g.clone()).into();
        }
        let record = run.record.clone();
        drop(list);
        if let Err(e) = self.write_record(id, &record) {
            tracing::warn!(error = %format!("{e:#}"), id, "cannot write a run's record");
        }
    }

    /// The newest runs, as the API shows them.
    pub fn list(&self) -> Vec<Value> {
        let list = self.lock();
        list.iter().rev().take(LIST_MAX).map(view).collect()
    }

    /// Run `id` as the API shows it, after `f` (e.g. a cancel) when it is live.
    pub fn with(&self, id: u64, f: impl FnOnce(&RunControl)) -> Option<Value> {
        let list = self.lock();
        let run = list.iter().find(|r| r.id == id)?;
        if let Some(c) = &run.control
            && run.record["status"] == json!("running")
        {
            f(c);
        }
        Some(view(run))
    }
}

/// A run's progress counters.
fn progress(c: &RunControl) -> Value {
    json!({
        "units_total": c.counters.total.load(Ordering::Relaxed),
        "units_done": c.counters.done.load(Ordering::Relaxed),
        "rows": c.counters.rows.load(Ordering::Relaxed),
    })
}

/// A run as the API shows it: its record, with live progress while it runs here.
fn view(r: &Run) -> Value {
    let mut v = r.record.clone();
    if let Some(c) = &r.control
        && v["status"] == json!("running")
    {
        if c.stop.load(Ordering::SeqCst) {
            v["status"] = json!("cancelling");
        }
        v["progress"] = progress(c);
    }
    for k in ["exit_code", "error", "report", "progress"] {
        if v.get(k).is_none() {
            v[k] = Value::Null;
        }
    }
    v
}

/// Creates `path`, which must not exist (not even as a link), readable by its owner only.
fn create_new(path: &Path) -> anyhow::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot create {}", path.display())))
}

/// Makes `dir` (mode 0700) or checks it is the server's own: a folder, not a link, owned by
/// this user; one readable by others is tightened to 0700.
fn private_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => {
            bail!(
                "runs.dir {} is a symbolic link: name the folder itself",
                dir.display()
            )
        }
        Ok(m) if !m.is_dir() => bail!("runs.dir {} is not a folder", dir.display()),
        Ok(_) => {}
        Err(_) => {
            let mut b = fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            b.create(dir)
                .with_context(|| format!("cannot create runs.dir {}", dir.display()))?;
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let m = fs::metadata(dir)?;
        let me = fs::metadata("/proc/self").map(|p| p.uid()).ok();
        if let Some(me) = me
            && m.uid() != me
        {
            bail!(
                "runs.dir {} belongs to another user (uid {}): give the server a folder of its own",
                dir.display(),
                m.uid()
            );
        }
        if m.mode() & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), mode = format!("{:o}", m.mode() & 0o777), "runs.dir is open to other users: made 0700");
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
    }
    dir.canonicalize()
        .with_context(|| format!("cannot resolve runs.dir {}", dir.display()))
}

fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| anyhow!("no random bytes: {e}"))?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_with_a_password_is_recognised_as_the_servers_own() {
        // Before StoreUrl the policy compared the store's redacted URL with the argument,
        // so a server whose store had a password refused every run on it.
        let own = |u: &str| StoreUrl::parse(u).unwrap();
        let policy = Policy::new(
            &RunsSection::default(),
            vec![
                own("redis://:s3cret@Feed.example:6379/0"),
                own("embedded://data/post"),
            ],
        )
        .unwrap();
        let args = |feed: &str| -> Vec<String> {
            [
                "--sim",
                "--feed",
                feed,
                "--symbols",
                "AAPL",
                "--from",
                "2024-06-03",
            ]
            .map(String::from)
            .to_vec()
        };
        assert_eq!(
            policy.check(Stage::Fetch, &args("redis://:s3cret@feed.example/0")),
            Ok(())
        );
        let other = policy
            .check(Stage::Fetch, &args("redis://:s3cret@other.example/0"))
            .unwrap_err();
        assert!(other.contains("own stores"), "{other}");
        assert!(!other.contains("s3cret"), "{other}");
    }

    #[test]
    fn new_paths_resolve_to_where_they_would_be_made() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        assert_eq!(resolve_new(&dir.path().join("a/b")), real.join("a/b"));
        assert_eq!(
            resolve_new(&dir.path().join("a/../../etc")),
            PathBuf::from("/..")
        );
    }
}
