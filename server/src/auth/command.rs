//! `xlserver keys`: create, list and revoke API keys in the keys file.

use std::path::Path;

use anyhow::anyhow;

use super::keyfile::*;
use super::*;

/// `xlserver keys`: create, list and revoke API keys in the keys file.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once; only its hash is stored.
    Add {
        /// Who or what uses the key, e.g. "excel-desk-3".
        #[arg(long)]
        name: String,
        /// analyst (read APIs) or admin (everything).
        #[arg(long, default_value = "analyst")]
        role: String,
    },
    /// List keys (id, name, role, created, status); never shows secrets.
    List,
    /// Revoke a key by its id (see `list`).
    Revoke {
        /// The key's id.
        id: String,
    },
}

/// Runs `xlserver keys add|list|revoke` on the keys file at `keys_file`.
pub fn run_keys(cmd: KeysCommand, keys_file: &Path) -> anyhow::Result<()> {
    let mut file = KeyFile::open(keys_file)?;
    match cmd {
        KeysCommand::Add { name, role } => {
            let role = Role::parse(&role).map_err(|e| anyhow!(e))?;
            let (info, key) = file.add(&name, role)?;
            println!(
                "created key {} (name \"{}\", role {}) in {}",
                info.id,
                info.name,
                info.role,
                keys_file.display()
            );
            println!();
            println!("    {key}");
            println!();
            println!("store this key now: it is shown only once (the server keeps only its hash).");
            println!("a running xlserver accepts it after it reloads the keys file.");
        }
        KeysCommand::List => {
            let keys = file.list();
            if keys.is_empty() {
                println!(
                    "no keys in {} (authentication is off; the server binds to loopback only)",
                    keys_file.display()
                );
                return Ok(());
            }
            let width = keys.iter().map(|k| k.name.len()).max().unwrap_or(4).max(4);
            println!(
                "{:<12}  {:<width$}  {:<7}  {:<20}  status",
                "id", "name", "role", "created"
            );
            for k in keys {
                println!(
                    "{:<12}  {:<width$}  {:<7}  {:<20}  {}",
                    k.id,
                    k.name,
                    k.role.as_str(),
                    k.created,
                    if k.revoked { "revoked" } else { "active" }
                );
            }
        }
        KeysCommand::Revoke { id } => {
            let info = file.revoke(&id)?;
            println!(
                "revoked key {} (name \"{}\", role {}); a running xlserver refuses it after \
                 it reloads the keys file",
                info.id, info.name, info.role
            );
        }
    }
    Ok(())
}
