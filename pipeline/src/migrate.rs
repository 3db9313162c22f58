//! `xlpipeline migrate`: rewrites a store written by an older xlfeed to the key layout this
//! one reads ([`xlfeed_store::migrate`]), and says what it moved.

use anyhow::{Context, Result};
use xlfeed_store::StoreUrl;
use xlfeed_store::key::LAYOUT_VERSION;
use xlfeed_store::migrate::{Migration, migrate};

const MIGRATE_EXAMPLES: &str = "\
Examples:
  xlpipeline migrate --store embedded:///data/feed
  xlpipeline migrate --store redis://:PASSWORD@127.0.0.1:6379/0

Stop everything that uses the store first (fetch, postprocess, xlserver): until the migration
ends they refuse it anyway. Chunks are copied to their new keys byte for byte before the old
keys are removed, and the layout marker is written last, so a migration that is interrupted
(kill -9, a lost connection) is finished by running the same command again. A store already
in the current layout is left as it is.";

/// Options of `migrate`.
#[derive(Debug, clap::Args)]
#[command(after_help = MIGRATE_EXAMPLES)]
pub(crate) struct MigrateArgs {
    /// Store to migrate: embedded:///dir, redis://host:port/db or redis+cluster://host:port,host:port/.
    #[arg(long, value_name = "URL")]
    store: String,
}

/// Runs `migrate`.
pub(crate) async fn run(args: MigrateArgs) -> Result<()> {
    let url = StoreUrl::parse(&args.store)?;
    let shown = url.to_string();
    let done = migrate(url)
        .await
        .with_context(|| format!("failed to migrate the store {shown}"))?;
    print!("{}", summary(&shown, &done));
    Ok(())
}

/// What `migrate` prints.
fn summary(url: &str, done: &Migration) -> String {
    if done.was_current() {
        return format!("{url} is already in key layout {LAYOUT_VERSION}: nothing to do\n");
    }
    let mut out = format!("{url}: key layout {} -> {LAYOUT_VERSION}\n", done.from);
    if done.series > 0 {
        out.push_str(&format!(
            "  {} series, {} chunks moved to the layout's keys\n",
            done.series, done.chunks
        ));
    }
    for r in &done.renamed {
        out.push_str(&format!(
            "  {} {} (was {}): {} series, {} chunks moved\n",
            r.dataset, r.to, r.from, r.series, r.chunks
        ));
    }
    if done.lineages > 0 {
        out.push_str(&format!(
            "  lineage: {} chunks name their inputs by the new kind names\n",
            done.lineages
        ));
    }
    for key in &done.skipped {
        out.push_str(&format!(
            "  skipped {key}: indexed, but its chunk is missing or does not decode\n"
        ));
    }
    out
}
