//! `rewho serve`: forward-auth for nginx/Traefik/Caddy, login and logout pages, and either a
//! streaming reverse proxy to `--upstream` or a demo page, with reload and metrics.
//!
//! | route | what it does |
//! |---|---|
//! | `GET /_rewho/auth` | forward-auth: 200 + `X-Remote-User` (and plugin headers), or the challenge; answered before the router |
//! | `GET /_rewho/login` | the login form (`came_from` from the query) |
//! | `POST /_rewho/login` | `login`, `password`, `came_from` → [`Api::login`](crate::Api::login) |
//! | `GET /_rewho/logout` | a page with one button posting the logout |
//! | `POST /_rewho/logout` | forget headers, then a redirect to `came_from` or `/` |
//! | `GET /_rewho/metrics` | Prometheus text: plugin calls, failures, latency; requests; reloads |
//! | `POST /_rewho/creds/…` | the token credentials endpoints, when `[creds] enabled` ([`crate::creds_http`]) |
//! | anything else | [`WhoLayer`](crate::WhoLayer) around the upstream proxy or the demo page |
//!
//! The config is rebuilt on [`Reloader::reload`] (SIGHUP, `--watch`); a config that fails to
//! build is logged with its error and the running one keeps serving. Requests in flight finish
//! on the factory they started with.
//!
//! # Forward-auth
//!
//! The request to authenticate is rebuilt from `X-Original-URI` / `X-Original-Method` (nginx)
//! or `X-Forwarded-Method` / `X-Forwarded-Uri` (Traefik, Caddy), plus `X-Forwarded-Proto`,
//! `X-Forwarded-Host`, and the client address by the one rule of
//! [`TrustedProxies::client_addr`](crate::TrustedProxies::client_addr) (`X-Forwarded-For` or
//! `Forwarded`; `X-Real-IP` only with `[general] real_ip_header`), only when the TCP peer is
//! a trusted proxy (loopback, or `[general] trusted_proxies`). The answer never says 2xx unless a user
//! was authenticated. nginx's `auth_request` turns any status of the subrequest other than
//! 2xx/401/403 into a 500, so when the call came through nginx (it sent `X-Original-*`) a
//! redirect challenge is answered as 401 with the `Location` header; the nginx example turns
//! it back into a redirect with `error_page 401`.
//!
//! # Login
//!
//! A failed login answers 200 with the form, a message and the identifiers' forget headers
//! (200, not 401: the form is the answer, and a 401 would be challenged again by proxies
//! configured to challenge every 401). `came_from` is followed only within the site: see
//! the rules on the login handler.

mod conns;
mod csrf;
mod endpoints;
mod metrics;
mod pages;
mod proxy;
mod workers;

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use axum::routing::{any, get};
use axum::Router;
use http::Request;
use tokio::net::TcpListener;
use tower::Layer;

pub use conns::ConnLimits;
pub use metrics::Metrics;

use crate::creds_http::CredsHttpConfig;
use crate::middleware::{InvalidProxy, SharedFactory, WhoLayer};
use crate::{ApiFactory, ApiFactoryBuilder, Config, FactoryError};

/// How `rewho serve` runs, besides the address it listens on.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The who.ini to load (and reload).
    pub config: PathBuf,
    /// Proxy every request that is not under `/_rewho/` to this `http://` URL; `None` serves
    /// the demo page.
    pub upstream: Option<String>,
    /// Poll the config file's modification time this often and reload when it changes.
    pub watch: Option<Duration>,
    /// After a shutdown signal, how long requests in flight may take before the server stops
    /// anyway.
    pub grace: Duration,
    /// How many threads serve connections; 0 means one per core. Each connection stays on
    /// one thread from start to end (see `docs/PERFORMANCE.md`).
    pub threads: usize,
    /// Header-read and idle timeouts and the connection cap (see [`ConnLimits`]).
    pub limits: ConnLimits,
}

impl ServeOptions {
    /// Serve the demo on `config`, no watching, 30 s of grace on shutdown.
    pub fn new(config: impl Into<PathBuf>) -> Self {
        ServeOptions {
            config: config.into(),
            upstream: None,
            watch: None,
            grace: Duration::from_secs(30),
            threads: 0,
            limits: ConnLimits::default(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The config could not be loaded; every problem is listed.
    #[error("{}: cannot load the config:\n{source}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        source: Box<FactoryError>,
    },
    /// `[general] trusted_proxies` has a bad entry.
    #[error("{}: {source}", path.display())]
    TrustedProxies {
        /// The config file.
        path: PathBuf,
        /// The bad entry.
        source: InvalidProxy,
    },
    /// The `[creds]` section cannot be used (file and line in the message).
    #[error(transparent)]
    Creds(#[from] crate::creds_http::CredsConfigError),
    /// `--upstream` is not a usable URL.
    #[error("{0}")]
    Upstream(String),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The config uses the demo secret published in rewho's own who.ini, and the server
    /// listens on an address other hosts can reach.
    #[error(
        "{}:{line}: [plugin:{section}] `{option}` is the demo secret published with rewho; \
         anyone can forge logins with it, so rewho will not serve it on {listen} (not a \
         loopback address). Set `{option}` to a long random value of your own (or use \
         `secretfile`), or listen on 127.0.0.1 for a local demo",
        path.display()
    )]
    DemoSecret {
        /// The config file.
        path: PathBuf,
        /// The plugin section.
        section: String,
        /// The option holding the demo secret.
        option: String,
        /// Its line.
        line: usize,
        /// The address asked for.
        listen: String,
    },
    /// `[general] metrics_allow` has a bad entry.
    #[error(
        "{}: [general] metrics_allow: `{entry}` is not `any`, an IP address or a CIDR \
         (e.g. 10.0.0.0/8)",
        path.display()
    )]
    MetricsAllow {
        /// The config file.
        path: PathBuf,
        /// The bad entry.
        entry: String,
    },
    /// A reload would leave a chain every request needs empty.
    #[error(
        "{}: [{section}] lists no plugins; a config without {section} lets nobody in, so the \
         reload is refused (to run one on purpose, restart rewho with it)",
        path.display()
    )]
    EmptyChain {
        /// The config file.
        path: PathBuf,
        /// `identifiers` or `authenticators`.
        section: &'static str,
    },
    /// Serving failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What one load of the config file gives the server.
struct LoadedConfig {
    factory: ApiFactory,
    /// `[general] strip_headers`.
    strip: Vec<String>,
    /// The `[creds]` section: the `/_rewho/creds/` endpoints.
    creds: CredsHttpConfig,
    /// The first of `[identifiers]`, `[authenticators]` that lists no plugin.
    empty_chain: Option<&'static str>,
    /// Where the config holds [`DEMO_SECRET`]: (section, option, line).
    demo_secret: Option<(String, String, usize)>,
    /// Who may read `/_rewho/metrics`.
    metrics_access: MetricsAccess,
}

/// Who may read `/_rewho/metrics`: `[general] metrics_allow = any`, or loopback and the
/// listed addresses/CIDRs; by default loopback and `[general] trusted_proxies` (plugin names,
/// failure counts and latencies are nobody else's business).
#[derive(Debug, Clone)]
pub(crate) enum MetricsAccess {
    Any,
    Only(crate::TrustedProxies),
}

impl MetricsAccess {
    fn from_config(path: &Path, config: &Config) -> Result<Self, ServeError> {
        let listed: Vec<&str> = config
            .general
            .extra
            .iter()
            .filter(|(k, _)| k == "metrics_allow")
            .map(|(_, v)| v.as_str())
            .collect();
        if listed.is_empty() {
            let trusted = crate::TrustedProxies::parse(&config.general.trusted_proxies).map_err(
                |source| ServeError::TrustedProxies {
                    path: path.to_owned(),
                    source,
                },
            )?;
            return Ok(MetricsAccess::Only(trusted));
        }
        if listed.iter().any(|v| v.trim() == "any") {
            return Ok(MetricsAccess::Any);
        }
        crate::TrustedProxies::parse(&listed)
            .map(MetricsAccess::Only)
            .map_err(|e| ServeError::MetricsAllow {
                path: path.to_owned(),
                entry: e.entry,
            })
    }

    /// Whether a peer at `ip` may read the metrics.
    pub(crate) fn allows(&self, ip: Option<IpAddr>) -> bool {
        match self {
            MetricsAccess::Any => true,
            MetricsAccess::Only(nets) => ip.is_some_and(|ip| nets.contains(ip)),
        }
    }
}

/// The auth_tkt secret of the repository's own who.ini: public, so never for a server other
/// hosts can reach.
pub const DEMO_SECRET: &str = "rewho-demo-secret-NOT-SECRET-change-me-before-real-use";

/// The first plugin option whose value is [`DEMO_SECRET`].
fn find_demo_secret(config: &Config) -> Option<(String, String, usize)> {
    config.plugins.iter().find_map(|p| {
        p.options
            .iter()
            .zip(&p.option_lines)
            .find(|((_, v), _)| v.trim() == DEMO_SECRET)
            .map(|((k, _), line)| (p.id.clone(), k.clone(), *line))
    })
}

impl LoadedConfig {
    /// Refuses the demo secret on a listener that is not loopback.
    fn check_exposure(&self, path: &Path, listen: SocketAddr) -> Result<(), ServeError> {
        match &self.demo_secret {
            Some((section, option, line)) if !listen.ip().is_loopback() => {
                Err(ServeError::DemoSecret {
                    path: path.to_owned(),
                    section: section.clone(),
                    option: option.clone(),
                    line: *line,
                    listen: listen.to_string(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// Loads `path` into a factory reporting to `metrics`, with `[general] strip_headers` and the
/// `[creds]` endpoints' settings.
fn load(path: &Path, metrics: &Arc<Metrics>) -> Result<LoadedConfig, ServeError> {
    let cfg_err = |source: FactoryError| ServeError::Config {
        path: path.to_owned(),
        source: Box::new(source),
    };
    // One read of the file serves both the chains and the `[creds]` section.
    let doc = crate::config::read_ini(path).map_err(|e| cfg_err(FactoryError::Config(e)))?;
    let config = Config::from_document(&doc).map_err(|e| cfg_err(FactoryError::Config(e)))?;
    let strip: Vec<String> = config
        .general
        .extra
        .iter()
        .filter(|(k, _)| k == "strip_headers")
        .flat_map(|(_, v)| v.split([',', ' ', '\t', '\n']).map(str::to_owned))
        .filter(|s| !s.is_empty())
        .collect();
    let factory = ApiFactoryBuilder::from_config(&config)
        .observer(metrics.clone())
        .build()
        .map_err(cfg_err)?;
    crate::TrustedProxies::parse(factory.trusted_proxies()).map_err(|source| {
        ServeError::TrustedProxies {
            path: path.to_owned(),
            source,
        }
    })?;
    let creds = CredsHttpConfig::from_document(&doc)?;
    let empty_chain = [
        ("identifiers", config.identifiers.is_empty()),
        ("authenticators", config.authenticators.is_empty()),
    ]
    .into_iter()
    .find_map(|(section, empty)| empty.then_some(section));
    Ok(LoadedConfig {
        factory,
        strip,
        creds,
        empty_chain,
        demo_secret: find_demo_secret(&config),
        metrics_access: MetricsAccess::from_config(path, &config)?,
    })
}

/// Rebuilds the factory from the config file and swaps it in; cheap to clone.
#[derive(Clone, Debug)]
pub struct Reloader {
    config: PathBuf,
    shared: SharedFactory,
    creds: Arc<ArcSwap<CredsHttpConfig>>,
    metrics: Arc<Metrics>,
    lock: Arc<tokio::sync::Mutex<()>>,
    metrics_access: Arc<ArcSwap<MetricsAccess>>,
    /// The listening address (a reload may not bring in the demo secret on a public one).
    listen: SocketAddr,
}

impl Reloader {
    /// Loads the config again (on the blocking pool: plugin factories may do I/O) and, if it
    /// builds, makes it the one new requests use. On failure the error is logged and returned,
    /// and the running factory stays. Libraries already loaded stay loaded.
    pub async fn reload(&self) -> Result<(), ServeError> {
        let _one_at_a_time = self.lock.lock().await;
        let path = self.config.clone();
        let metrics = self.metrics.clone();
        let loaded = tokio::task::spawn_blocking(move || load(&path, &metrics))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let result = loaded.and_then(|loaded| {
            loaded.check_exposure(&self.config, self.listen)?;
            if let Some(section) = loaded.empty_chain {
                return Err(ServeError::EmptyChain {
                    path: self.config.clone(),
                    section,
                });
            }
            self.shared.add_stripped(&loaded.strip);
            self.shared
                .replace(loaded.factory)
                .map_err(|source| ServeError::TrustedProxies {
                    path: self.config.clone(),
                    source,
                })?;
            self.creds.store(Arc::new(loaded.creds));
            self.metrics_access.store(Arc::new(loaded.metrics_access));
            Ok(())
        });
        self.metrics.reload(result.is_ok());
        match &result {
            Ok(()) => tracing::info!(
                target: "rewho::reload",
                config = %self.config.display(),
                "config reloaded"
            ),
            Err(e) => tracing::error!(
                target: "rewho::reload",
                "config reload refused, still serving the previous config: {e}"
            ),
        }
        result
    }

    /// The factory new requests use.
    pub fn factory(&self) -> ApiFactory {
        self.shared.factory()
    }
}

pub(crate) struct AppState {
    shared: SharedFactory,
    /// The `/_rewho/creds/` endpoints' settings (swapped on reload).
    creds: Arc<ArcSwap<CredsHttpConfig>>,
    metrics: Arc<Metrics>,
    /// Who may read `/_rewho/metrics` (swapped on reload).
    metrics_access: Arc<ArcSwap<MetricsAccess>>,
    next_id: AtomicU64,
    id_prefix: u32,
}

impl AppState {
    fn request_id(&self) -> RequestId {
        RequestId::new(self.id_prefix, self.next_id.fetch_add(1, Ordering::Relaxed))
    }
}

/// `<8 hex digits of the process' prefix>-<counter>`: the id of one request in the access
/// log and its `X-Request-Id`. Written into a buffer of its own: every request makes one,
/// and `format!` cost as much as the request's whole ticket check.
pub(crate) struct RequestId {
    buf: [u8; 29],
    len: usize,
}

impl RequestId {
    fn new(prefix: u32, n: u64) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 29];
        for (i, b) in buf[..8].iter_mut().enumerate() {
            *b = HEX[(prefix >> (28 - 4 * i) & 0xf) as usize];
        }
        buf[8] = b'-';
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = n;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let tail = &digits[at..];
        buf[9..9 + tail.len()].copy_from_slice(tail);
        RequestId {
            buf,
            len: 9 + tail.len(),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Hex digits, `-` and decimal digits only.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("-")
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The peer's IP, as axum's connect info has it.
pub(crate) fn peer_ip(ext: &http::Extensions) -> Option<IpAddr> {
    crate::middleware::peer_of(ext).map(|p| p.ip())
}

/// A bound, loaded `rewho serve`, ready to [`run`](Self::run).
pub struct Server {
    listener: TcpListener,
    router: Router,
    app: Arc<AppState>,
    reloader: Reloader,
    options: ServeOptions,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("options", &self.options)
            .finish()
    }
}

impl Server {
    /// Loads the config (refusing to start on any error) and listens on `listen`
    /// (`127.0.0.1:0` picks a free port; see [`local_addr`](Self::local_addr)).
    pub async fn bind(listen: &str, options: ServeOptions) -> Result<Server, ServeError> {
        let metrics = Arc::new(Metrics::default());
        let path = options.config.clone();
        let m = metrics.clone();
        let loaded = tokio::task::spawn_blocking(move || load(&path, &m))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: listen.to_owned(),
                source,
            })?;
        let local = listener.local_addr()?;
        loaded.check_exposure(&options.config, local)?;
        let LoadedConfig {
            factory,
            strip,
            creds,
            metrics_access,
            ..
        } = loaded;
        let metrics_access = Arc::new(ArcSwap::from_pointee(metrics_access));
        let creds = Arc::new(ArcSwap::from_pointee(creds));
        let shared = SharedFactory::new(factory)
            .map_err(|source| ServeError::TrustedProxies {
                path: options.config.clone(),
                source,
            })?
            .strip_headers(&strip);
        let proxy = match &options.upstream {
            Some(u) => Some(proxy::Proxy::new(u).map_err(ServeError::Upstream)?),
            None => None,
        };
        let id_prefix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ std::process::id().rotate_left(16))
            .unwrap_or_default();
        let app = Arc::new(AppState {
            shared: shared.clone(),
            creds: creds.clone(),
            metrics: metrics.clone(),
            metrics_access: metrics_access.clone(),
            next_id: AtomicU64::new(1),
            id_prefix,
        });
        let router = router(app.clone(), proxy);
        Ok(Server {
            listener,
            router,
            app,
            reloader: Reloader {
                config: options.config.clone(),
                shared,
                creds,
                metrics,
                lock: Arc::default(),
                metrics_access,
                listen: local,
            },
            options,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that reloads the config.
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting, lets requests in flight
    /// finish (at most [`ServeOptions::grace`]) and returns. With
    /// [`ServeOptions::watch`], reloads when the config file changes.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let watcher = self
            .options
            .watch
            .map(|every| tokio::spawn(watch(self.reloader.clone(), every)));
        let stopping = Arc::new(tokio::sync::Notify::new());
        let notify = stopping.clone();
        let threads = match self.options.threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let registry = conns::Registry::new(self.options.limits, self.app.metrics.clone());
        let connections = Connections {
            app: self.app,
            router: self.router,
            registry: registry.clone(),
        };
        let serve = serve_connections(self.listener, connections, registry, threads, async move {
            shutdown.await;
            tracing::info!(target: "rewho::serve", "shutting down: finishing requests in flight");
            notify.notify_one();
        });
        let grace = self.options.grace;
        let result = tokio::select! {
            r = serve => r.map_err(ServeError::from),
            () = async { stopping.notified().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(target: "rewho::serve", "grace period over; closing the remaining connections");
                Ok(())
            }
        };
        if let Some(w) = watcher {
            w.abort();
        }
        tracing::info!(target: "rewho::serve", "stopped");
        result
    }

    /// [`run`](Self::run) with Unix signals: SIGHUP reloads the config, SIGTERM and SIGINT
    /// shut down gracefully. Installs the handlers itself; install them with
    /// [`Signals::install`] before announcing the server instead, and use
    /// [`run_on_signals`](Self::run_on_signals), when something may signal right away.
    #[cfg(unix)]
    pub async fn run_with_signals(self) -> Result<(), ServeError> {
        let signals = Signals::install()?;
        self.run_on_signals(signals).await
    }

    /// [`run_with_signals`](Self::run_with_signals) on handlers installed earlier.
    #[cfg(unix)]
    pub async fn run_on_signals(self, signals: Signals) -> Result<(), ServeError> {
        let Signals {
            mut hup,
            mut term,
            mut int,
        } = signals;
        let reloader = self.reloader();
        let reloads = tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!(target: "rewho::reload", "SIGHUP: reloading the config");
                let _ = reloader.reload().await;
            }
        });
        let result = self
            .run(async move {
                tokio::select! {
                    _ = term.recv() => tracing::info!(target: "rewho::serve", "SIGTERM received"),
                    _ = int.recv() => tracing::info!(target: "rewho::serve", "SIGINT received"),
                }
            })
            .await;
        reloads.abort();
        result
    }
}

/// The handlers for SIGHUP (reload), SIGTERM and SIGINT (graceful shutdown). Installing them
/// before the server says it is listening matters: until then a SIGHUP would take its
/// default action and kill the process.
#[cfg(unix)]
#[derive(Debug)]
pub struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    /// Installs the three handlers (inside a tokio runtime). From then on the signals are
    /// queued for [`Server::run_on_signals`] instead of acting on the process.
    pub fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }
}

/// Reloads whenever the config file's modification time or size changes.
async fn watch(reloader: Reloader, every: Duration) {
    let stamp = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.modified().ok(), m.len()))
    };
    let mut last = stamp(&reloader.config);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = stamp(&reloader.config);
        if now != last {
            last = now;
            tracing::info!(target: "rewho::reload", "config file changed: reloading");
            let _ = reloader.reload().await;
        }
    }
}

/// Accepts connections until `shutdown` completes, then waits for the open ones to finish
/// their requests in flight. Each connection is served start to end on one of `threads`
/// connection threads ([`workers`]). `GET /_rewho/auth` is answered straight from the
/// connection ([`endpoints::serve_forward_auth`]); every other request goes through the
/// router, with the peer address in its extensions as axum's `ConnectInfo`.
async fn serve_connections(
    listener: TcpListener,
    connections: Connections,
    registry: Arc<conns::Registry>,
    threads: usize,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut threads = workers::ConnectionThreads::start(threads, connections)?;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(target: "rewho::serve", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // At the cap with every connection busy: close this one (counted and logged there).
        let Some(slot) = registry.admit() else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        if let Err(e) = threads.hand(stream, peer, slot) {
            tracing::error!(target: "rewho::serve", "cannot serve a connection from {peer}: {e}");
        }
    }
    drop(listener);
    threads.finish().await;
    Ok(())
}

/// How a connection thread serves one connection: HTTP/1 or HTTP/2 (with upgrades), the
/// forward-auth fast path first, the router for the rest.
#[derive(Clone)]
struct Connections {
    app: Arc<AppState>,
    router: Router,
    registry: Arc<conns::Registry>,
}

impl workers::ServeConnection for Connections {
    fn serve(
        &self,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        slot: conns::Slot,
        graceful: &hyper_util::server::graceful::GracefulShutdown,
    ) {
        use axum::extract::ConnectInfo;
        use hyper_util::rt::{TokioExecutor, TokioIo};
        use hyper_util::server::conn::auto::Builder;
        use tower::ServiceExt;

        let (app, router) = (self.app.clone(), self.router.clone());
        let state = slot.state.clone();
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let (app, router) = (app.clone(), router.clone());
            let in_flight = state.request();
            async move {
                let _in_flight = in_flight;
                if req.uri().path() == "/_rewho/auth" {
                    return Ok::<_, Infallible>(
                        endpoints::serve_forward_auth(&app, req, peer).await,
                    );
                }
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                router.oneshot(req).await
            }
        });
        let conn = Builder::new(TokioExecutor::new())
            .serve_connection_with_upgrades(
                TokioIo::new(conns::Tracked::new(stream, slot.state.clone())),
                service,
            )
            .into_owned();
        let conn = graceful.watch(conn);
        let registry = self.registry.clone();
        // Client resets and malformed requests end their connection; nothing to report.
        tokio::spawn(async move { registry.supervise(slot, conn).await });
    }
}

fn router(app: Arc<AppState>, proxy: Option<proxy::Proxy>) -> Router {
    let layer = WhoLayer::shared(app.shared.clone());
    let routes = Router::new()
        .route(
            "/_rewho/login",
            get(endpoints::login_form).post(endpoints::login_submit),
        )
        .route(
            "/_rewho/logout",
            get(endpoints::logout_form).post(endpoints::logout),
        )
        .route("/_rewho/metrics", get(endpoints::metrics))
        .route("/_rewho/creds/*op", any(endpoints::creds));
    let routes = match proxy {
        Some(p) => routes.fallback_service(layer.layer(tower::service_fn(move |req| {
            let p = p.clone();
            async move { Ok::<_, std::convert::Infallible>(p.forward(req).await) }
        }))),
        None => routes.fallback_service(layer.layer(tower::service_fn(proxy::demo))),
    };
    routes
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            endpoints::access_log,
        ))
        .with_state(app)
}

#[cfg(test)]
mod tests {
    use super::RequestId;

    #[test]
    fn request_ids_read_as_format_would_write_them() {
        for (prefix, n) in [
            (0, 0),
            (0xdead_beef, 1),
            (0x0123_4567, 42),
            (u32::MAX, u64::MAX),
        ] {
            assert_eq!(
                RequestId::new(prefix, n).to_string(),
                format!("{prefix:08x}-{n}")
            );
        }
    }
}
