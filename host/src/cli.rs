//! `rewho serve`: a thin shell over [`rewho::server`].

use std::process::ExitCode;

/// Arguments of `rewho serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The config file.
    #[arg(long, default_value = "who.ini")]
    pub config: std::path::PathBuf,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Proxy every request outside /_rewho/ to this http:// URL (default: the demo page).
    #[arg(long)]
    pub upstream: Option<String>,
    /// Reload when the config file changes (polls its modification time). SIGHUP always
    /// reloads.
    #[arg(long)]
    pub watch: bool,
    /// How often --watch looks at the config file, in seconds.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub watch_interval: f64,
    /// After SIGTERM/SIGINT, how long requests in flight may take, in seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub grace: f64,
    /// How many threads serve connections (0: one per core).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,
    /// Close a connection that has not sent a complete request head this many seconds after
    /// it was accepted.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub header_timeout: f64,
    /// Close a connection with no request in flight and nothing written for this many seconds.
    #[arg(long, default_value_t = 75.0, value_name = "SECONDS")]
    pub idle_timeout: f64,
    /// Open connections at most; at the cap the oldest idle one is closed to admit a new one
    /// (0: half of what the open-file limit leaves).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub max_connections: usize,
}

/// Runs the server until SIGTERM or SIGINT: 0 after a clean shutdown, 2 when it cannot start.
#[cfg(feature = "server")]
pub fn serve(args: ServeArgs) -> ExitCode {
    use std::time::Duration;

    use rewho::server::{ConnLimits, ServeOptions, Server, Signals};

    let seconds = |name: &str, s: f64| {
        Duration::try_from_secs_f64(s).map_err(|_| format!("--{name} {s}: not a duration"))
    };
    let positive = |name: &str, s: f64| {
        seconds(name, s).and_then(|d| {
            if d.is_zero() {
                Err(format!("--{name} {s}: must be more than 0"))
            } else {
                Ok(d)
            }
        })
    };
    let durations = (|| {
        Ok::<_, String>((
            seconds("watch-interval", args.watch_interval)?,
            seconds("grace", args.grace)?,
            positive("header-timeout", args.header_timeout)?,
            positive("idle-timeout", args.idle_timeout)?,
        ))
    })();
    let (watch, grace, header_timeout, idle_timeout) = match durations {
        Ok((w, g, h, i)) => (w.max(Duration::from_millis(10)), g, h, i),
        Err(e) => {
            eprintln!("rewho serve: {e}");
            return ExitCode::from(2);
        }
    };
    let options = ServeOptions {
        config: args.config,
        upstream: args.upstream,
        watch: args.watch.then_some(watch),
        grace,
        threads: args.threads,
        limits: ConnLimits {
            header_timeout,
            idle_timeout,
            max_connections: args.max_connections,
        },
    };
    // This runtime accepts connections, handles signals and reloads; the connections
    // themselves are served on the server's own connection threads.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rewho serve: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = runtime.block_on(async move {
        let upstream = options.upstream.clone();
        let server = match Server::bind(&args.listen, options).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("rewho serve: {e}");
                return ExitCode::from(2);
            }
        };
        let addr = match server.local_addr() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("rewho serve: {e}");
                return ExitCode::from(2);
            }
        };
        // Before the "listening" line: a SIGHUP right after it must reload, not kill.
        let signals = match Signals::install() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("rewho serve: cannot install signal handlers: {e}");
                return ExitCode::from(2);
            }
        };
        // Tests and scripts read this line to find the port.
        eprintln!("rewho: listening on http://{addr}");
        match &upstream {
            Some(u) => {
                eprintln!("rewho: proxying to {u}; forward-auth at http://{addr}/_rewho/auth")
            }
            None => eprintln!(
                "rewho: demo page at http://{addr}/ (log in at http://{addr}/_rewho/login)"
            ),
        }
        match server.run_on_signals(signals).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rewho serve: {e}");
                ExitCode::from(2)
            }
        }
    });
    // A plugin call still running on the blocking pool after the grace period must not hold
    // the exit (dropping the runtime would wait for it).
    runtime.shutdown_timeout(Duration::from_millis(200));
    code
}

/// Without the `server` feature: explains how to get it.
#[cfg(not(feature = "server"))]
pub fn serve(_args: ServeArgs) -> ExitCode {
    eprintln!("rewho serve: this build has no server; rebuild with the `server` feature");
    ExitCode::from(2)
}
