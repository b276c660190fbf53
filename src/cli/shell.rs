//! `flowrex completions SHELL` and `flowrex man`: the shell completion script and the man pages, both
//! generated from the command line's own description (clap_complete, clap_mangen), so they list every
//! flag this binary has.

use std::path::PathBuf;

use clap::CommandFactory;

use super::output::{print_bytes, print_text};
use super::{Cli, Outcome};
use flowrex::error::{Error, IoContext, Result};

/// Arguments of `flowrex completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Install (see the README for zsh's fpath):
  flowrex completions bash > ~/.local/share/bash-completion/completions/flowrex
  flowrex completions zsh > ~/.zfunc/_flowrex
  flowrex completions fish > ~/.config/fish/completions/flowrex.fish
  flowrex completions powershell >> $PROFILE")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `flowrex man`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Install:
  flowrex man --out ~/.local/share/man/man1     (then: man flowrex, man flowrex-backtest)
  flowrex man | man -l -                        (read it without installing)")]
pub struct ManArgs {
    /// Write flowrex.1 and one page per subcommand (flowrex-backtest.1, …) into this folder (created if
    /// needed) instead of printing flowrex.1.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Prints the completion script of `args.shell` on stdout.
pub fn completions(args: CompletionsArgs) -> Result<Outcome> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "flowrex", &mut buf);
    print_bytes(&buf)?;
    Ok(Outcome::Done)
}

/// Prints `flowrex.1`, or writes every page into `--out`.
pub fn man(args: ManArgs) -> Result<Outcome> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let Some(dir) = args.out else {
        print_bytes(&render(cmd)?)?;
        return Ok(Outcome::Done);
    };
    std::fs::create_dir_all(&dir).at(&dir)?;
    let mut written = Vec::new();
    // `build` gave every subcommand its display name (flowrex-backtest, flowrex-optimize-merge), which
    // clap_mangen uses for the title and the SEE ALSO-style subcommand list, so file names follow it.
    let mut pages = vec![cmd];
    while let Some(cmd) = pages.pop() {
        pages.extend(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
        let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
        let path = dir.join(format!("{name}.1"));
        flowrex::atomic::write_atomic(&path, &render(cmd)?)?;
        written.push(path);
    }
    written.sort();
    // One path per line: short lines at 80 columns, and `xargs` reads them.
    let list: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    print_text(&list.join("\n"))?;
    Ok(Outcome::Done)
}

fn render(cmd: clap::Command) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .map_err(|e| Error::invalid(format!("cannot render the man page: {e}")))?;
    Ok(buf)
}
