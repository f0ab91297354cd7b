//! The `rewho` command: a thin shell over the `rewho` library.
//!
//! Exit codes follow ripgrep's convention: 0 success (authenticated), 1 a negative answer
//! (not authenticated, verification failed), 2 an error (bad config, unreadable file).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rewho::{ApiFactory, ChainLink};

mod cli;
mod creds_cli;

/// mimalloc for the whole process: with its `override` feature it also serves the `malloc`
/// and `free` of every plugin library, which allocate identities and strings on every
/// request (see `host/Cargo.toml` for the measurement).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: rewho::alloc::Allocator = rewho::alloc::Allocator;

/// rewho: a repoze.who-style authentication host.
#[derive(Parser)]
#[command(name = "rewho", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load who.ini and every plugin; print the chains, or every error found.
    Check {
        /// The config file.
        #[arg(long, default_value = "who.ini")]
        config: PathBuf,
        /// Run the `[authorizers]` on one request, "METHOD URL" (e.g. "GET
        /// https://app.example.com/admin/x"), and print the decision and the rule: exit 0 on
        /// allow, 1 on deny.
        #[arg(long, value_name = "METHOD URL")]
        explain: Option<String>,
        /// With --explain: the user id (omit for an anonymous request).
        #[arg(long, requires = "explain")]
        user: Option<String>,
        /// With --explain: a group of the user (repeat for several).
        #[arg(long = "group", requires = "explain")]
        groups: Vec<String>,
        /// With --explain: the client address.
        #[arg(long, requires = "explain", default_value = "127.0.0.1")]
        client: String,
    },
    /// Serve forward-auth, login/logout, and the demo page or a reverse proxy.
    Serve(cli::ServeArgs),
    /// Manage a token credentials folder: register, verify, reset, deregister, remove.
    Creds(creds_cli::CredsArgs),
    /// Plugin authoring: `rewho plugin new NAME` starts a plugin crate that builds on its own.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Writes NAME/Cargo.toml and NAME/src/lib.rs: an identifier + authenticator to edit,
    /// depending on rewho-plugin-api by path (`--api-path`) or git (`--api-git`).
    New {
        /// The plugin's name: lower-case letters, digits and `_` (`use = NAME`).
        name: String,
        /// Where rewho's `plugin-api` folder is (a path dependency).
        #[arg(long, conflicts_with = "api_git")]
        api_path: Option<PathBuf>,
        /// rewho's git repository URL (a git dependency, tag `plugin-api-1.0.0`).
        #[arg(long)]
        api_git: Option<String>,
        /// The folder to create (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` logs a line per request: batched on a thread of its own, written out when
    // `main` returns. The one-shot commands write theirs as they come, in step with their
    // own output.
    let _flush = init_logging(matches!(cli.command, Command::Serve(_)));
    match cli.command {
        Command::Check {
            config,
            explain: None,
            ..
        } => check(&config),
        Command::Check {
            config,
            explain: Some(request),
            user,
            groups,
            client,
        } => explain(&config, &request, user, groups, &client),
        Command::Serve(args) => cli::serve(args),
        Command::Creds(args) => creds_cli::run(args),
        Command::Plugin(PluginCommand::New {
            name,
            api_path,
            api_git,
            dir,
        }) => new_plugin(&name, api_path, api_git, dir),
    }
}

/// `rewho plugin new`: a plugin crate to start from.
fn new_plugin(
    name: &str,
    api_path: Option<PathBuf>,
    api_git: Option<String>,
    dir: Option<PathBuf>,
) -> ExitCode {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.as_bytes()[0].is_ascii_lowercase();
    if !valid {
        eprintln!("rewho: plugin name `{name}`: use lower-case letters, digits and `_`, starting with a letter");
        return ExitCode::from(2);
    }
    let dependency = match (api_path, api_git) {
        (Some(path), _) => {
            let path = std::path::absolute(&path).unwrap_or(path);
            format!(
                "rewho-plugin-api = {{ path = {:?} }}",
                path.display().to_string()
            )
        }
        (None, Some(url)) => {
            format!("rewho-plugin-api = {{ git = {url:?}, tag = \"plugin-api-1.0.0\" }}")
        }
        (None, None) => {
            eprintln!("rewho: say where rewho-plugin-api is: --api-path DIR or --api-git URL");
            return ExitCode::from(2);
        }
    };
    let type_name: String = name
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| p[..1].to_ascii_uppercase() + &p[1..])
        .collect();
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{type}}", &type_name)
            .replace("{{api_dependency}}", &dependency)
    };
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        eprintln!("rewho: {} exists already; not touching it", dir.display());
        return ExitCode::from(2);
    }
    let written = std::fs::create_dir_all(dir.join("src"))
        .and_then(|()| {
            std::fs::write(
                dir.join("Cargo.toml"),
                fill(include_str!("templates/plugin_cargo.toml")),
            )
        })
        .and_then(|()| {
            std::fs::write(
                dir.join("src/lib.rs"),
                fill(include_str!("templates/plugin_lib.rs")),
            )
        });
    match written {
        Ok(()) => {
            println!(
                "{}: build it with `cargo build --release`, then `use = {name}` with \
                 plugin_path pointing at target/release",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rewho: cannot write {}: {e}", dir.display());
            ExitCode::from(2)
        }
    }
}

fn init_logging(batched: bool) -> Option<rewho::logline::Flush> {
    use rewho::logline::{BatchedWriter, LineFields, LineFormat};
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("REWHO_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,rewho::audit=off"));
    let lines = tracing_subscriber::fmt().with_env_filter(filter);
    // A terminal gets tracing-subscriber's coloured lines, as they come; files, pipes and
    // journals get the same layout from `LineFormat`, which costs a fraction of it per line.
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let _ = lines
            .with_writer(std::io::stderr)
            .with_ansi(true)
            .try_init();
        return None;
    }
    let lines = lines
        .with_ansi(false)
        .event_format(LineFormat)
        .fmt_fields(LineFields);
    match batched.then(|| BatchedWriter::start(std::io::stderr())) {
        Some(Ok((writer, flush))) => {
            let _ = lines.with_writer(writer).try_init();
            Some(flush)
        }
        _ => {
            let _ = lines.with_writer(std::io::stderr).try_init();
            None
        }
    }
}

fn check(config: &std::path::Path) -> ExitCode {
    match ApiFactory::from_config_file(config) {
        Ok(factory) => {
            print!("{}", describe(config, &factory));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rewho: {} is not usable:\n{e}", config.display());
            ExitCode::from(2)
        }
    }
}

/// `rewho check --explain`: the `[authorizers]` decision for one request and user.
fn explain(
    config: &std::path::Path,
    request: &str,
    user: Option<String>,
    groups: Vec<String>,
    client: &str,
) -> ExitCode {
    let factory = match ApiFactory::from_config_file(config) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rewho: {} is not usable:\n{e}", config.display());
            return ExitCode::from(2);
        }
    };
    let Some(req) = rewho::OwnedRequest::from_request_line(request, client) else {
        eprintln!(
            "rewho: --explain wants \"METHOD URL\", e.g. \"GET https://app.example.com/admin\""
        );
        return ExitCode::from(2);
    };
    let identity = user.map(|u| {
        let mut id = rewho::Identity::new();
        id.insert(rewho::USERID_KEY, u);
        id.insert("groups", groups.clone());
        id
    });
    match factory.explain(&req, identity.as_ref()) {
        rewho::Authz::NotConfigured => {
            println!("allow: {} has no [authorizers] section", config.display());
            ExitCode::SUCCESS
        }
        rewho::Authz::Allowed { by, reason } => {
            println!("allow by {by}: {reason}");
            ExitCode::SUCCESS
        }
        rewho::Authz::Denied { by, reason } => {
            match by {
                Some(by) => println!("deny by {by}: {reason}"),
                None => println!("deny: {reason}"),
            }
            ExitCode::from(1)
        }
    }
}

/// A human-readable listing of the chains and plugins.
fn describe(config: &std::path::Path, f: &ApiFactory) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{}: OK", config.display());
    let link = |l: &ChainLink| {
        format!(
            "{}{}  ({})",
            l.name,
            l.classifier
                .as_ref()
                .map(|c| format!(";{c}"))
                .unwrap_or_default(),
            l.library.display()
        )
    };
    let _ = writeln!(out, "request_classifier: {}", link(f.request_classifier()));
    let _ = writeln!(out, "challenge_decider: {}", link(f.challenge_decider()));
    for (title, chain) in [
        ("identifiers", f.identifiers()),
        ("authenticators", f.authenticators()),
        ("challengers", f.challengers()),
        ("mdproviders", f.mdproviders()),
    ] {
        let _ = writeln!(out, "[{title}]");
        if chain.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for (i, l) in chain.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}", i + 1, link(l));
        }
    }
    if let Some(chain) = f.authorizers() {
        let _ = writeln!(out, "[authorizers]");
        if chain.is_empty() {
            let _ = writeln!(out, "  (none: every request is denied)");
        }
        for (i, l) in chain.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}", i + 1, link(l));
        }
    }
    let _ = writeln!(out, "[plugins]");
    for p in f.registry().iter() {
        let _ = writeln!(
            out,
            "  {}: {} from {} (roles: {}{})",
            p.id,
            p.factory,
            p.library.path().display(),
            p.handle.role_names().join(", "),
            if p.handle.does_io() { "; does I/O" } else { "" }
        );
        if let Some(summary) = p
            .handle
            .metadata()
            .get_str("summary")
            .filter(|s| !s.is_empty())
        {
            let _ = writeln!(out, "      {summary}");
        }
    }
    out
}
