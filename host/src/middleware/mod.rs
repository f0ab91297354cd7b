//! Middleware that authenticates every request with an [`ApiFactory`]: repoze.who's
//! `PluggableAuthenticationMiddleware` as a [`tower::Layer`].
//!
//! [`WhoLayer`] wraps any service taking `http::Request`s (axum, hyper, tonic). For each request
//! [`WhoService`]:
//!
//! 1. rebuilds the request plugins see (trusting `X-Forwarded-Proto/Host/For` only from
//!    [`TrustedProxies`]), then classifies, identifies, authenticates and adds metadata;
//! 2. answers at once if an identifier asked to (repoze's `repoze.who.application`);
//! 3. strips incoming copies of `X-Remote-User` and of every header a plugin edits, sets
//!    `X-Remote-User` and the plugins' downstream header edits, and puts a [`WhoApi`] in the
//!    request's extensions (handlers extract it, or [`WhoIdentity`] / [`MaybeWhoIdentity`]);
//! 4. after the inner service answers, asks the challenge decider: a challenge replaces the
//!    response, otherwise the remember headers are appended.
//!
//! Chains whose plugins block on I/O ([`ApiFactory::does_io`]) run on tokio's blocking pool;
//! CPU-only chains run inline, and so do I/O chains whose plugins ask before they block
//! ([`ApiFactory::inline_first`]) until one of them asks. A [`SharedFactory`] lets a server
//! swap in a rebuilt factory: requests in flight finish on the one they started with.
//!
//! # Example
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use rewho::{ApiFactory, MaybeWhoIdentity, WhoLayer};
//!
//! async fn hello(MaybeWhoIdentity(who): MaybeWhoIdentity) -> String {
//!     match who.as_ref().and_then(|i| i.userid()) {
//!         Some(user) => format!("hello, {user}"),
//!         None => "hello, stranger".to_owned(),
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let factory = ApiFactory::from_config_file("who.ini".as_ref())?;
//! let app: Router = Router::new()
//!     .route("/", get(hello))
//!     .layer(WhoLayer::new(factory));
//! # Ok(()) }
//! ```

mod api;
mod edge;
mod extract;
mod future;
mod layer;
mod service;

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::ApiFactory;

pub use api::{timeout_response, to_header_map, WhoApi};
pub use edge::{InvalidProxy, TrustedProxies, REMOTE_USER_HEADER};
pub use extract::{MaybeWhoIdentity, WhoIdentity, WhoRejection};
pub use future::{ResponseFuture, WhoBody};
pub use layer::WhoLayer;
pub use service::WhoService;

pub(crate) use edge::{
    append_fields, header_text, rebuild, relative_location, snapshot, to_fields, Admission,
    HeaderGuard, Provenance, PublicUrl, Rebuild,
};
pub(crate) use service::{peer_of, timed_out, Outcome};

/// One built factory and what the edges derive from its config.
pub(crate) struct Loaded {
    pub(crate) factory: ApiFactory,
    /// `[general] trusted_proxies` and `real_ip_header`.
    pub(crate) trusted: TrustedProxies,
    /// `[general] public_url`.
    pub(crate) public: Option<PublicUrl>,
}

impl Loaded {
    /// What the edges derive from `factory`'s `[general]` options; fails on a bad
    /// `trusted_proxies` entry, `real_ip_header` or `public_url`.
    pub(crate) fn new(factory: ApiFactory) -> Result<Loaded, InvalidProxy> {
        let trusted = TrustedProxies::parse(factory.trusted_proxies())?
            .with_real_ip_header(factory.general_option("real_ip_header").unwrap_or(""))?;
        let public = PublicUrl::parse(factory.general_option("public_url"))?;
        Ok(Loaded {
            factory,
            trusted,
            public,
        })
    }
}

/// The factory every request starts from, replaceable at run time (reload), plus the set of
/// headers stripped from incoming requests. Cheap to clone; clones share both.
#[derive(Clone)]
pub struct SharedFactory {
    current: Arc<ArcSwap<Loaded>>,
    guard: Arc<HeaderGuard>,
}

impl std::fmt::Debug for SharedFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedFactory")
            .field("factory", &self.current.load().factory)
            .field("stripped", &self.guard.names())
            .finish()
    }
}

impl SharedFactory {
    /// Shares `factory`; fails when its `[general] trusted_proxies` has an entry that is not an
    /// address or CIDR, or its `real_ip_header` or `public_url` cannot be used.
    pub fn new(factory: ApiFactory) -> Result<Self, InvalidProxy> {
        let guard = HeaderGuard::new(&factory.downstream_header_names());
        Ok(SharedFactory {
            current: Arc::new(ArcSwap::from_pointee(Self::prepare(factory)?)),
            guard: Arc::new(guard),
        })
    }

    /// Also strips these headers from every incoming request, before any plugin edit names
    /// them (for headers a plugin sets only for some requests; `X-Remote-User` and the
    /// names of edits already seen are always stripped). Call before cloning.
    pub fn strip_headers<S: AsRef<str>>(mut self, names: &[S]) -> Self {
        let mut all: Vec<String> = self.guard.names().iter().map(|n| n.to_string()).collect();
        all.extend(names.iter().map(|n| n.as_ref().to_owned()));
        self.guard = Arc::new(HeaderGuard::new(&all));
        self
    }

    fn prepare(factory: ApiFactory) -> Result<Loaded, InvalidProxy> {
        Loaded::new(factory)
    }

    /// The current factory.
    pub fn factory(&self) -> ApiFactory {
        self.current.load().factory.clone()
    }

    /// Atomically replaces the factory: new requests use `factory`, requests in flight finish
    /// on the old one. Fails (and keeps the old one) on a bad `trusted_proxies` entry.
    pub fn replace(&self, factory: ApiFactory) -> Result<(), InvalidProxy> {
        let declared = factory.downstream_header_names();
        self.current.store(Arc::new(Self::prepare(factory)?));
        self.guard.add(&declared);
        Ok(())
    }

    /// Adds configured names to the stripped set (a reload may name more).
    pub(crate) fn add_stripped<S: AsRef<str>>(&self, names: &[S]) {
        self.guard.add(names);
    }

    pub(crate) fn load(&self) -> Arc<Loaded> {
        self.current.load_full()
    }

    pub(crate) fn guard(&self) -> &HeaderGuard {
        &self.guard
    }
}
