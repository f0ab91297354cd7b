//! `rewho creds`: register, verify, reset, deregister and remove users of a credentials
//! folder (fixie-creds' operations, see [`rewho_plugin_creds::store`]).
//!
//! Exit codes: 0 done (registered, verified, …), 1 a negative answer (already registered,
//! wrong token, unknown user, wrong e-mail), 2 an error (no folder, invalid user name, a
//! corrupt file). New tokens go to standard output and nowhere else; messages for negative
//! answers and errors go to standard error.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use rewho::creds_http::CredsSection;
use rewho_plugin_creds::store::{creds_dir_from_env, CredsStore, StoreError, StoreOptions};

/// Arguments of `rewho creds`.
#[derive(clap::Args)]
pub struct CredsArgs {
    /// The credentials folder (default: `[creds] credsdir` of --config, else
    /// $REWHO_CREDS_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    credsdir: Option<PathBuf>,
    /// Take the folder and token size from this who.ini's `[creds]` section (or its
    /// `use = creds` plugin section).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Token size in bytes (default: the config's, else 20).
    #[arg(long, global = true, value_name = "N")]
    nbytes: Option<usize>,
    #[command(subcommand)]
    command: CredsCommand,
}

#[derive(clap::Subcommand)]
enum CredsCommand {
    /// Register USER and print their new token.
    Register {
        /// The user name.
        user: String,
        /// The user's e-mail address (needed again to reset the token).
        email: String,
    },
    /// Exit 0 if TOKEN is USER's, 1 if not.
    Verify {
        /// The user name.
        user: String,
        /// The token; `-` reads it from standard input (keeps it out of `ps`).
        token: String,
    },
    /// Give USER a new token (EMAIL must be the registered one) and print it.
    Reset {
        /// The user name.
        user: String,
        /// The e-mail address given at registration.
        email: String,
    },
    /// Remove USER, proving ownership with their TOKEN.
    Deregister {
        /// The user name.
        user: String,
        /// The token; `-` reads it from standard input.
        token: String,
    },
    /// Remove USER without a token.
    Remove {
        /// The user name.
        user: String,
    },
}

/// Runs `rewho creds …` and returns its exit code.
pub fn run(args: CredsArgs) -> ExitCode {
    match execute(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("rewho creds: {message}");
            ExitCode::from(2)
        }
    }
}

/// Where the folder is and how long tokens are, from the options, config and environment.
fn resolve(args: &CredsArgs) -> Result<(PathBuf, usize), String> {
    let section = match &args.config {
        Some(path) => {
            let doc = rewho::config::read_ini(path).map_err(|e| e.to_string())?;
            Some(CredsSection::from_document(&doc).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let nbytes = args
        .nbytes
        .or(section.as_ref().map(|s| s.nbytes))
        .unwrap_or(rewho_plugin_creds::store::DEFAULT_NBYTES);
    let dir = match (&args.credsdir, &section) {
        (Some(d), _) => d.clone(),
        (None, Some(s)) => s.credsdir_or_env().ok_or_else(|| {
            let config = args.config.clone().unwrap_or_default();
            format!(
                "{}: no `credsdir` in [creds] or in a `use = creds` plugin section, and \
                 REWHO_CREDS_DIR is not set",
                config.display()
            )
        })?,
        (None, None) => creds_dir_from_env().ok_or(
            "no credentials folder: pass --credsdir DIR or --config who.ini, or set \
             REWHO_CREDS_DIR",
        )?,
    };
    Ok((dir, nbytes))
}

fn execute(args: CredsArgs) -> Result<ExitCode, String> {
    let (dir, nbytes) = resolve(&args)?;
    let create = matches!(args.command, CredsCommand::Register { .. });
    let store =
        CredsStore::open(dir, StoreOptions { nbytes, create }).map_err(|e| e.to_string())?;
    warn_if_open(store.dir());
    let fail = |e: StoreError| e.to_string();
    let (ok, out) = match &args.command {
        CredsCommand::Register { user, email } => {
            let o = store.register(user, email).map_err(fail)?;
            (o.status(), o.message())
        }
        CredsCommand::Verify { user, token } => {
            let token = token_arg(token)?;
            let o = store.verify(user, &token).map_err(fail)?;
            // One message for every failure, as the HTTP endpoint answers.
            let message = if o.verified() {
                o.message()
            } else {
                rewho::creds_http::VERIFY_FAILED.to_owned()
            };
            (o.verified(), message)
        }
        CredsCommand::Reset { user, email } => {
            let o = store.reset(user, email).map_err(fail)?;
            (o.status(), o.message())
        }
        CredsCommand::Deregister { user, token } => {
            let token = token_arg(token)?;
            let o = store.deregister(user, &token).map_err(fail)?;
            (o.status(), o.message())
        }
        CredsCommand::Remove { user } => {
            let o = store.remove_user(user).map_err(fail)?;
            (o.status(), o.message())
        }
    };
    if ok {
        println!("{out}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("rewho creds: {out}");
        Ok(ExitCode::from(1))
    }
}

/// The token argument, or the first line of standard input for `-`.
fn token_arg(arg: &str) -> Result<String, String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("reading the token from standard input: {e}"))?;
    Ok(line.trim().to_owned())
}

/// Warns when users other than the owner may enter the folder.
fn warn_if_open(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(dir) {
        let mode = m.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "rewho creds: warning: {} has mode {mode:o}; consider `chmod 700`",
                dir.display()
            );
        }
    }
}
