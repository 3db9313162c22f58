//! `xlserver`: xlfeed's query server (see the `xlfeed_server` crate).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use xlfeed_server::config::Config;
use xlfeed_server::{auth, demo, serve};

/// xlserver: market data and option analytics for Excel (HTTP JSON) and programs (gRPC).
#[derive(Debug, Parser)]
#[command(name = "xlserver", version, about)]
struct Cli {
    /// Configuration file (TOML); XLFEED_<SECTION>__<KEY> variables override it.
    #[arg(long, global = true, env = "XLFEED_CONFIG")]
    config: Option<PathBuf>,
    /// Check the configuration (serve, report, config check) and the report's arguments or
    /// spec, and say in one line what the command would do, without opening a store or a
    /// port: exit 0, or 2 naming the bad value. For a container's command line.
    #[arg(long, global = true)]
    check: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP and gRPC from the configured stores.
    Serve,
    /// The one-command demo: simulator → fetch → postprocess into ./data, then serve on
    /// loopback. A second run reuses the data.
    Demo(demo::DemoArgs),
    /// API keys: add, list, revoke (stored hashed in security.keys_file, by default
    /// ./xlserver-keys.json: the file `serve` reads).
    #[command(subcommand)]
    Keys(auth::KeysCommand),
    /// The configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Write xlsx reports to files: a named report (history, chain, compare, ivsurface), one
    /// function's answer, or every report of a spec file.
    Report(xlfeed_server::report::cli::ReportArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print the effective one, secrets redacted.
    Check,
}

/// The banner's example call (`{auth}` is the key header when keys are required).
const BANNER_EXAMPLE: &str =
    "curl -s {auth}'{url}/api/v1/history?symbol=AAPL&start=2024-06-03&end=2024-06-28&dates=iso'";

async fn run_server(
    config: &Config,
    stores: (xlfeed_store::Store, xlfeed_store::Store),
) -> Result<()> {
    let running = serve::start(config, stores).await?;
    let url = running.http_url();
    let excel = if config.server.addin_dir.is_dir() {
        format!(
            "manifest {url}/addin/manifest.xml, task pane {url}/addin/taskpane.html\n            sideload: save the manifest, then in Excel Home > Add-ins > More add-ins > My Add-ins >\n            Upload My Add-in (Excel needs HTTPS: xlserver demo --https, and trust the certificate;\n            Windows and Mac steps in docs/excel-addin.md)"
        )
    } else {
        format!(
            "the add-in is not built in {} (cd excel-addin && npm ci && npm run build); see docs/excel-addin.md",
            config.server.addin_dir.display()
        )
    };
    let keys_file = running
        .keys_file
        .as_ref()
        .map_or_else(|| "no keys file".to_owned(), |p| p.display().to_string());
    let keys = match &running.admin_token {
        None => format!("required (from {keys_file}); send \"Authorization: Bearer <key>\""),
        Some(token) => format!(
            "none in {keys_file}: loopback only, the API open\n  admin     token {token}\n            (the admin routes and the task pane's runs need it: \"Authorization: Bearer <token>\")"
        ),
    };
    let metrics = match running.metrics_addr {
        Some(a) => format!("metrics on http://{a}/metrics"),
        None => "metrics at /metrics".to_owned(),
    };
    let example = BANNER_EXAMPLE.replace("{url}", &url).replace(
        "{auth}",
        if running.auth {
            "-H 'Authorization: Bearer <your key>' "
        } else {
            ""
        },
    );
    // Caught from here on: a SIGTERM sent as soon as the banner is read stops gracefully.
    let signal = xlfeed_pipeline::ShutdownSignal::listen();
    let banner = format!(
        "\nxlserver {} is serving\n  HTTP      {url}   (API under /api/v1, OpenAPI at /openapi.json, {metrics})\n  gRPC      {}   (xlfeed.v1.QueryService, health, reflection)\n  API keys  {keys}\n  try       {example}\n  Excel     {excel}\nStop with ctrl-c.\n",
        env!("CARGO_PKG_VERSION"),
        running.grpc_addr,
    );
    // A closed stdout (a detached terminal, a pipe nobody reads) must not stop the server.
    let mut out = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut out, banner.as_bytes());
    let _ = std::io::Write::flush(&mut out);
    drop(out);
    signal.recv().await;
    eprintln!("xlserver: stopping (requests in flight finish)");
    running.shutdown().await;
    Ok(())
}

/// `--check`: the command's one-line plan, or the error naming the bad value.
fn check(cli: &Cli) -> Result<String> {
    let c = Config::load(cli.config.as_deref())?;
    let stores = format!(
        "{} and {}",
        xlfeed_store::url::redact(&c.stores.feed),
        xlfeed_store::url::redact(&c.stores.post)
    );
    match &cli.command {
        Command::Serve => Ok(format!(
            "serve: configuration valid; HTTP on {}, gRPC on {}, stores {stores} (nothing opened)",
            c.server.http, c.server.grpc
        )),
        Command::Report(args) => Ok(format!(
            "report: configuration valid; {} into {} from stores {stores} (nothing opened)",
            xlfeed_server::report::cli::check(args)?,
            args.out.display()
        )),
        Command::Config(ConfigCommand::Check) => Ok("config: configuration valid".to_owned()),
        _ => anyhow::bail!("--check applies to serve, report and config check"),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    xlfeed_pipeline::init_tracing();
    let cli = Cli::parse();
    if cli.check {
        match check(&cli) {
            Ok(line) => {
                println!("{line}");
                return Ok(());
            }
            Err(e) => {
                eprintln!("xlserver: {e:#}");
                std::process::exit(2);
            }
        }
    }
    match cli.command {
        Command::Config(ConfigCommand::Check) => {
            let c = Config::load(cli.config.as_deref())?;
            println!("{}", serde_json::to_string_pretty(&c.redacted())?);
            eprintln!("configuration is valid");
            Ok(())
        }
        Command::Keys(cmd) => {
            let c = Config::load(cli.config.as_deref())?;
            let path = c
                .security
                .keys_file
                .clone()
                .unwrap_or_else(|| PathBuf::from(auth::DEFAULT_KEYS_FILE));
            auth::run_keys(cmd, &path)
        }
        Command::Serve => {
            let c = Config::load(cli.config.as_deref())?;
            let stores = serve::open_stores(&c).await?;
            run_server(&c, stores).await
        }
        Command::Report(args) => {
            let mut c = Config::load(cli.config.as_deref())?;
            if let Some(dir) = &args.data {
                c.stores.feed = format!("embedded://{}/feed", dir.display());
                c.stores.post = format!("embedded://{}/post", dir.display());
            }
            let stores = serve::open_stores(&c).await?;
            let query = serve::query_service(&c, stores, Default::default())?;
            if !xlfeed_server::report::cli::run(&args, query, c.reports.clone()).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Demo(args) => {
            let base = Config::load(cli.config.as_deref())?;
            std::fs::create_dir_all(&args.data)
                .with_context(|| format!("cannot create {}", args.data.display()))?;
            let c = demo::config(&args, base)?;
            let stores = serve::open_stores(&c).await?;
            demo::prepare(&args, &stores.0, &stores.1).await?;
            if args.no_serve {
                eprintln!(
                    "demo: data ready in {} (--no-serve: not serving)",
                    args.data.display()
                );
                return Ok(());
            }
            run_server(&c, stores).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
