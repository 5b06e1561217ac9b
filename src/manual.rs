//! Shell completions and manual pages, generated from the same clap definitions as `--help`,
//! so they can never disagree with the flags.
//!
//! `callrecon man` prints the main page; `callrecon man run` the page of a subcommand
//! (`callrecon-run(1)`, as git does); `callrecon man --dir DIR` writes them all. The pages
//! are committed in `man/`, and a test fails when they are out of date.

use crate::cli::{Cli, ManArgs};
use crate::error::UsageError;
use anyhow::{Context, Result};
use clap::CommandFactory;

/// Prints a completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    // Generated into memory first: clap_complete panics on a write error, and a closed
    // stdout (`callrecon completions bash | true`) is not one (see `crate::stdio`).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "callrecon", &mut script);
    crate::stdio::out(&script)?;
    Ok(())
}

/// Every page: `(file name, roff)`, the main page first, subcommands depth first.
pub fn pages() -> Result<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
        // Subcommands carry no version of their own: every page says callrecon's (`.TH …
        // "callrecon-run 0.1.0"`, not `"run "`).
        let man = clap_mangen::Man::new(cmd.clone().version(env!("CARGO_PKG_VERSION")));
        let mut roff = Vec::new();
        man.render(&mut roff)?;
        out.push((man.get_filename(), roff));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out)?;
        }
        Ok(())
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Building names the subcommands `callrecon-run`…, as their pages are called.
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, &mut out)?;
    Ok(out)
}

pub fn run(args: &ManArgs) -> Result<()> {
    let pages = pages()?;
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, roff) in &pages {
            let path = dir.join(name);
            std::fs::write(&path, roff).with_context(|| format!("writing {}", path.display()))?;
        }
        crate::logging::say(&format!(
            "{} manual page(s) written to {}",
            pages.len(),
            dir.display()
        ));
        return Ok(());
    }
    let wanted = match &args.command {
        None => "callrecon.1".to_owned(),
        Some(sub) => format!("callrecon-{}.1", sub.trim().replace(' ', "-")),
    };
    let (_, roff) = pages
        .iter()
        .find(|(name, _)| *name == wanted)
        .ok_or_else(|| {
            let known: Vec<&str> = pages
                .iter()
                .filter_map(|(n, _)| n.strip_prefix("callrecon-")?.strip_suffix(".1"))
                .collect();
            UsageError::new(format!(
                "no manual page for '{}'; pages: {}",
                args.command.as_deref().unwrap_or_default(),
                known.join(", ")
            ))
        })?;
    crate::stdio::out(roff)?;
    Ok(())
}
