//! The directory client: pooled `ldap3` connections to one or more servers, every step bounded
//! by a timeout, and an outage state that fails fast, is logged once and heals by itself.
//!
//! Two pools: *service* connections stay bound as the service account (or anonymous) and run
//! searches; *check* connections are re-bound as each user whose password is checked, so a
//! user's bind never changes what a search may see.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ldap3::{LdapConn, LdapConnSettings, LdapError, Scope, SearchEntry};

/// Result code of a bind with a wrong password or an unknown DN.
const INVALID_CREDENTIALS: u32 = 49;
/// Result code of a search whose base does not exist.
const NO_SUCH_OBJECT: u32 = 32;

/// Where log lines go (the host's logger, tagged with the plugin id).
pub type Log = Arc<dyn Fn(Level, &str) + Send + Sync>;

/// Log levels the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Outages and refused service binds.
    Error,
    /// Recoveries.
    Info,
    /// Per-request details.
    Debug,
}

/// Why the directory could not answer.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// Every server failed (refused, timed out, TLS failed), or one did within the retry
    /// interval.
    #[error("directory unreachable: {0}")]
    Down(String),
    /// The service account's bind was refused: a configuration error, not an outage.
    #[error("the service bind as `{dn}` was refused (LDAP result {rc}: {text})")]
    ServiceBind {
        /// The service DN.
        dn: String,
        /// The LDAP result code.
        rc: u32,
        /// The server's message.
        text: String,
    },
    /// The server answered an operation with an error result other than the expected ones.
    #[error("LDAP result {rc} ({text}) for {what}")]
    Refused {
        /// What was asked.
        what: String,
        /// The LDAP result code.
        rc: u32,
        /// The server's message.
        text: String,
    },
}

/// What a [`Directory`] connects to and how.
pub struct DirectoryConfig {
    /// `ldap://`, `ldaps://` or `ldapi://` URLs, tried in order.
    pub urls: Vec<String>,
    /// Upgrade `ldap://` connections with StartTLS.
    pub start_tls: bool,
    /// A PEM file of CA certificates to trust instead of the system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// `false` skips certificate checks (tests only).
    pub verify: bool,
    /// Bound on connecting (TCP, TLS, StartTLS, service bind).
    pub connect_timeout: Duration,
    /// Bound on each operation.
    pub timeout: Duration,
    /// Idle connections kept per pool.
    pub pool_size: usize,
    /// How long after a failure requests fail fast before one tries again.
    pub retry: Duration,
    /// Service account (DN, password) for searches; `None` searches anonymously.
    pub service: Option<(String, String)>,
}

/// A secret that never prints.
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

/// Pooled connections to a directory. Cheap to share: all methods take `&self`.
pub struct Directory {
    urls: Vec<String>,
    settings: LdapConnSettings,
    timeout: Duration,
    service: Option<(String, Secret)>,
    pool_size: usize,
    idle_service: Mutex<Vec<LdapConn>>,
    idle_check: Mutex<Vec<LdapConn>>,
    down: AtomicBool,
    next_probe: Mutex<Instant>,
    retry: Duration,
    log: Log,
}

/// The two kinds of pooled connections.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Service,
    Check,
}

/// A search scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchScope {
    /// The base entry only.
    Base,
    /// The base's children.
    OneLevel,
    /// The base and everything below.
    Subtree,
}

impl Directory {
    /// Prepares the client; no connection is made until the first request.
    pub fn new(config: DirectoryConfig, log: Log) -> Result<Directory, String> {
        if config.urls.is_empty() {
            return Err("give at least one ldap://, ldaps:// or ldapi:// URL".into());
        }
        for url in &config.urls {
            let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
            match scheme.as_deref() {
                Some("ldap" | "ldaps" | "ldapi") => {}
                _ => {
                    return Err(format!(
                        "`{url}` is not an ldap://, ldaps:// or ldapi:// URL"
                    ))
                }
            }
            url::Url::parse(url).map_err(|e| format!("`{url}`: {e}"))?;
        }
        // One crypto provider for the whole library, whatever features the build unified.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(config.connect_timeout)
            .set_starttls(config.start_tls)
            .set_no_tls_verify(!config.verify);
        if let Some(path) = &config.ca_file {
            settings = settings.set_config(tls_config(path)?);
        }
        Ok(Directory {
            urls: config.urls,
            settings,
            timeout: config.timeout,
            service: config.service.map(|(dn, pw)| (dn, Secret(pw))),
            pool_size: config.pool_size,
            idle_service: Mutex::new(Vec::new()),
            idle_check: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
            next_probe: Mutex::new(Instant::now()),
            retry: config.retry,
            log,
        })
    }

    /// Checks `password` for `dn` with a simple bind. `Ok(false)` for a wrong password or an
    /// unknown DN. An empty password is refused without asking the server: to LDAP it is an
    /// unauthenticated bind, which succeeds for any DN.
    pub fn check_password(&self, dn: &str, password: &str) -> Result<bool, Unavailable> {
        if password.is_empty() || dn.is_empty() {
            return Ok(false);
        }
        let timeout = self.timeout;
        let rc = self.run(Kind::Check, |conn| {
            conn.with_timeout(timeout)
                .simple_bind(dn, password)
                .map(|r| (r.rc, r.text))
        })?;
        match rc {
            (0, _) => Ok(true),
            (INVALID_CREDENTIALS, _) => Ok(false),
            (rc, text) => {
                (self.log)(
                    Level::Debug,
                    &format!("bind refused with LDAP result {rc} ({text})"),
                );
                Ok(false)
            }
        }
    }

    /// Searches as the service account; a missing base gives no entries.
    pub fn search(
        &self,
        base: &str,
        scope: SearchScope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, Unavailable> {
        let timeout = self.timeout;
        let scope = match scope {
            SearchScope::Base => Scope::Base,
            SearchScope::OneLevel => Scope::OneLevel,
            SearchScope::Subtree => Scope::Subtree,
        };
        let (entries, rc, text) = self.run(Kind::Service, |conn| {
            let res = conn
                .with_timeout(timeout)
                .search(base, scope, filter, attrs.to_vec())?;
            let entries: Vec<SearchEntry> = res.0.into_iter().map(SearchEntry::construct).collect();
            Ok((entries, res.1.rc, res.1.text))
        })?;
        match rc {
            0 => Ok(entries),
            NO_SUCH_OBJECT => Ok(Vec::new()),
            rc => Err(Unavailable::Refused {
                what: format!("the search {filter} under `{base}`"),
                rc,
                text,
            }),
        }
    }

    /// Runs `op` on a pooled connection (or a new one), retrying once on a fresh connection
    /// when a pooled one turns out dead (the server restarted since it was opened).
    fn run<T>(
        &self,
        kind: Kind,
        mut op: impl FnMut(&mut LdapConn) -> Result<T, LdapError>,
    ) -> Result<T, Unavailable> {
        if let Some(mut conn) = self.take_idle(kind) {
            match op(&mut conn) {
                Ok(v) => {
                    self.put_idle(kind, conn);
                    return Ok(v);
                }
                // A server that stopped answering will not answer a new connection
                // either: one timeout per request is the bound.
                Err(e @ LdapError::Timeout { .. }) => {
                    drop_off_runtime(vec![conn]);
                    return Err(self.failed(format!("{e}")));
                }
                Err(e) => {
                    (self.log)(
                        Level::Debug,
                        &format!("pooled connection failed ({e}); reconnecting"),
                    );
                    drop(conn);
                }
            }
        }
        self.probe_allowed()?;
        let mut conn = self.connect(kind)?;
        match op(&mut conn) {
            Ok(v) => {
                self.healthy();
                self.put_idle(kind, conn);
                Ok(v)
            }
            Err(e) => Err(self.failed(format!("{e}"))),
        }
    }

    /// Connects to the first server that answers, bound as the service account for
    /// [`Kind::Service`].
    fn connect(&self, kind: Kind) -> Result<LdapConn, Unavailable> {
        let mut why = Vec::new();
        for url in &self.urls {
            let mut conn = match LdapConn::with_settings(self.settings.clone(), url) {
                Ok(c) => c,
                Err(e) => {
                    why.push(format!("{url}: {e}"));
                    continue;
                }
            };
            if kind == Kind::Service {
                if let Some((dn, pw)) = &self.service {
                    match conn.with_timeout(self.timeout).simple_bind(dn, &pw.0) {
                        Ok(r) if r.rc == 0 => {}
                        Ok(r) => {
                            let err = Unavailable::ServiceBind {
                                dn: dn.clone(),
                                rc: r.rc,
                                text: r.text,
                            };
                            self.failed_quietly();
                            if !self.down.swap(true, Ordering::SeqCst) {
                                (self.log)(Level::Error, &format!("{err}; failing closed"));
                            }
                            return Err(err);
                        }
                        Err(e) => {
                            why.push(format!("{url}: service bind: {e}"));
                            continue;
                        }
                    }
                }
            }
            return Ok(conn);
        }
        Err(self.failed(why.join("; ")))
    }

    /// Whether a request may try to connect now: always while the directory is up; during an
    /// outage, one request per retry interval.
    fn probe_allowed(&self) -> Result<(), Unavailable> {
        if !self.down.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut next = self.next_probe.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if now < *next {
            return Err(Unavailable::Down(
                "still down (failing fast until the next retry)".into(),
            ));
        }
        *next = now + self.retry;
        Ok(())
    }

    /// Records a failure; logs it when it starts an outage.
    fn failed(&self, why: String) -> Unavailable {
        self.failed_quietly();
        if !self.down.swap(true, Ordering::SeqCst) {
            (self.log)(
                Level::Error,
                &format!(
                    "LDAP directory unreachable ({why}); failing closed, retrying every {:?}",
                    self.retry
                ),
            );
        }
        Unavailable::Down(why)
    }

    fn failed_quietly(&self) {
        *self.next_probe.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now() + self.retry;
        self.drain();
    }

    /// Records a success; logs the end of an outage.
    fn healthy(&self) {
        if self.down.swap(false, Ordering::SeqCst) {
            (self.log)(Level::Info, "LDAP directory reachable again");
        }
    }

    /// Whether the last attempt failed (for tests and the docs' outage story).
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    fn pool(&self, kind: Kind) -> &Mutex<Vec<LdapConn>> {
        match kind {
            Kind::Service => &self.idle_service,
            Kind::Check => &self.idle_check,
        }
    }

    fn take_idle(&self, kind: Kind) -> Option<LdapConn> {
        self.pool(kind)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
    }

    fn put_idle(&self, kind: Kind, conn: LdapConn) {
        let mut idle = self.pool(kind).lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.pool_size {
            idle.push(conn);
        }
    }

    /// Drops every idle connection (after a failure they are likely dead too).
    fn drain(&self) {
        let mut all = Vec::new();
        for kind in [Kind::Service, Kind::Check] {
            all.append(&mut self.pool(kind).lock().unwrap_or_else(|e| e.into_inner()));
        }
        drop_off_runtime(all);
    }

    /// How many connections sit idle (tests check that connections are reused).
    pub fn idle_connections(&self) -> usize {
        [Kind::Service, Kind::Check]
            .iter()
            .map(|k| {
                self.pool(*k)
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .len()
            })
            .sum()
    }
}

impl Drop for Directory {
    fn drop(&mut self) {
        self.drain();
    }
}

/// Each `LdapConn` owns a small tokio runtime, which must not be dropped on an async
/// thread (a host reload may drop the plugin there): drop them on a thread of their own.
fn drop_off_runtime(conns: Vec<LdapConn>) {
    if conns.is_empty() {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("ldap-close".into())
        .spawn(move || drop(conns));
}

/// A rustls configuration trusting exactly the CA certificates in `path` (PEM).
fn tls_config(path: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("`{}`: {e}", path.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("`{}`: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("`{}`: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("`{}`: no PEM certificate in it", path.display()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
