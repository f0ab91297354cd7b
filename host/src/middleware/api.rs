//! [`WhoApi`]: one request's [`Api`], owned, shareable and usable across `await`s.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::HeaderMap;
use rewho_plugin_api::{HeaderField, Identity, Value};

use super::{append_fields, Admission, Loaded};
use crate::{Api, ApiFactory, ApiState, CallTimeout, Ingress, OwnedRequest};

/// The per-request API of one request: what repoze.who keeps in
/// `environ['repoze.who.api']`.
///
/// [`WhoLayer`](super::WhoLayer) puts one in every request's extensions; handlers extract it
/// to call [`login`](Self::login) and [`logout`](Self::logout) (a login view), or anything on
/// [`Api`] with [`run`](Self::run). The layer's egress uses the same one, so a handler's logout
/// stops the response from remembering the user. Clones share the request.
///
/// An [`Api`] borrows its request view, so this keeps an owned snapshot of the request and
/// the Api's state, and lends an `Api` to each call. The async methods run the call on tokio's
/// blocking pool when the chains do I/O, inline otherwise.
#[derive(Clone)]
pub struct WhoApi {
    slot: Arc<Mutex<Slot>>,
    does_io: bool,
    /// [`ApiFactory::inline_first`].
    inline_first: bool,
    /// How long to wait before looking at the call in progress again (`None`: no plugin has
    /// a deadline, wait without one).
    call_timeout: Option<Duration>,
}

struct Slot {
    loaded: Arc<Loaded>,
    request: Arc<OwnedRequest>,
    state: Option<ApiState>,
}

impl std::fmt::Debug for WhoApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("WhoApi")
            .field("method", &slot.request.method)
            .field("path", &slot.request.path)
            .field("state", &slot.state)
            .finish()
    }
}

impl WhoApi {
    pub(crate) fn new(loaded: Arc<Loaded>, request: Arc<OwnedRequest>) -> Self {
        WhoApi {
            does_io: loaded.factory.does_io(),
            inline_first: loaded.factory.inline_first(),
            call_timeout: loaded.factory.call_wait_limit(),
            slot: Arc::new(Mutex::new(Slot {
                loaded,
                request,
                state: None,
            })),
        }
    }

    /// A `WhoApi` for `request` on `factory`, for edges other than [`WhoLayer`](super::WhoLayer)
    /// (tests, custom servers). The request's classification happens on first use.
    pub fn for_request(factory: &ApiFactory, request: OwnedRequest) -> Self {
        let loaded = Loaded::new(factory.clone()).unwrap_or_else(|_| Loaded {
            factory: factory.clone(),
            trusted: super::TrustedProxies::default(),
            public: None,
        });
        Self::new(Arc::new(loaded), Arc::new(request))
    }

    /// Lends this request's [`Api`] to `f` on the current thread. Prefer [`run`](Self::run)
    /// in async code: this blocks when plugins do I/O.
    pub fn with<R>(&self, f: impl FnOnce(&mut Api<'_>) -> R) -> R {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        Self::lend(&mut slot, f)
    }

    /// Lends this request's [`Api`] to `f`: on tokio's blocking pool when the chains do I/O,
    /// inline otherwise, so the runtime's workers never wait on a plugin's I/O.
    ///
    /// # Panics
    ///
    /// Re-raises a panic of `f`; outside a tokio runtime when the chains do I/O.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Api<'_>) -> R + Send + 'static,
    ) -> R {
        if !self.does_io {
            return self.with(f);
        }
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.with(f)).await {
            Ok(out) => out,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("blocking task was cancelled: {e}"),
            },
        }
    }

    /// Like [`run`](Self::run), but keeps the factory's `call_timeout`s (`[general]`, or a
    /// plugin's own): when one plugin call of this request's I/O chain has not returned in
    /// time, stops waiting and
    /// returns [`CallTimeout`] (logged with the plugin's section id and the call). Edges then
    /// answer 503 ([`timeout_response`]).
    ///
    /// The stuck call cannot be interrupted: it keeps its blocking thread until the plugin
    /// returns, its later plugin calls are skipped and its results dropped, and the plugin is
    /// skipped by other requests meanwhile. The blocking thread owns the request's state
    /// while it runs, so after a timeout this `WhoApi` never waits for it: it answers as if
    /// not yet authenticated. CPU-only chains run inline, without a deadline.
    pub async fn try_run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Api<'_>) -> R + Send + 'static,
    ) -> Result<R, CallTimeout> {
        let limit = match self.call_timeout {
            Some(limit) if self.does_io => limit,
            _ => return Ok(self.run(f).await),
        };
        let (loaded, request, state) = {
            let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
            (slot.loaded.clone(), slot.request.clone(), slot.state.take())
        };
        let watch = loaded.factory.call_watch();
        let on_thread = watch.clone();
        let spawned = Instant::now();
        let mut task = tokio::task::spawn_blocking(move || {
            let _watched = on_thread.install();
            let factory = &loaded.factory;
            request.with_view(|view| {
                let mut api = match state {
                    Some(s) => factory.resume(view, s),
                    None => factory.api(view),
                };
                let out = f(&mut api);
                (out, api.suspend())
            })
        });
        loop {
            let check = watch.next_check(limit, spawned);
            match tokio::time::timeout_at(check.into(), &mut task).await {
                Ok(Ok((out, state))) => {
                    self.slot.lock().unwrap_or_else(|e| e.into_inner()).state = Some(state);
                    return Ok(out);
                }
                Ok(Err(e)) => match e.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(e) => panic!("blocking task was cancelled: {e}"),
                },
                Err(_) => {
                    if let Some(timeout) = watch.expire(limit, spawned) {
                        tracing::error!(
                            target: "rewho::timeout",
                            plugin = timeout.plugin.as_deref().unwrap_or("-"),
                            call = timeout.call.unwrap_or("-"),
                            "{timeout}; answering 503 and skipping that plugin until the call returns"
                        );
                        return Err(timeout);
                    }
                }
            }
        }
    }

    /// Like [`try_run`](Self::try_run) for a closure that may run twice: when every plugin
    /// that does I/O asks before it blocks ([`ApiFactory::inline_first`]), `f` first runs
    /// inline on this thread; only when a plugin asked to block is that attempt thrown away
    /// (the request's state is put back as it was) and `f` runs again on a blocking thread.
    /// Saves the thread hand-off, two context switches, on most requests.
    pub async fn try_run_repeatable<R, F>(&self, f: F) -> Result<R, CallTimeout>
    where
        R: Send + 'static,
        F: Fn(&mut Api<'_>) -> R + Send + 'static,
    {
        if self.inline_first {
            let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
            let before = slot.state.clone();
            let factory = slot.loaded.factory.clone();
            match factory.run_inline(|| Self::lend(&mut slot, &f)) {
                Some(out) => return Ok(out),
                None => slot.state = before,
            }
        }
        self.try_run(f).await
    }

    /// Lends the slot's [`Api`] to `f`, keeping its state for the next call.
    fn lend<R>(slot: &mut Slot, f: impl FnOnce(&mut Api<'_>) -> R) -> R {
        let factory = &slot.loaded.factory;
        let state = &mut slot.state;
        slot.request.with_view(|view| {
            let mut api = match state.take() {
                Some(s) => factory.resume(view, s),
                None => factory.api(view),
            };
            let out = f(&mut api);
            *state = Some(api.suspend());
            out
        })
    }

    /// The request as plugins see it (rebuilt from trusted proxy headers).
    pub fn request(&self) -> Arc<OwnedRequest> {
        self.slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .request
            .clone()
    }

    /// The factory this request started on (a reload does not change it).
    pub fn factory(&self) -> ApiFactory {
        self.slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .loaded
            .factory
            .clone()
    }

    /// The authenticated identity (a copy), if ingress or a handler authenticated one.
    pub fn identity(&self) -> Option<Identity> {
        let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.state.as_ref().and_then(|s| s.identity().cloned())
    }

    /// The authenticated user id as text.
    pub fn userid(&self) -> Option<String> {
        let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.state
            .as_ref()
            .and_then(|s| s.identity())
            .and_then(|i| i.userid())
            .map(Value::to_display_string)
    }

    /// `(credentials, identifier_name?) -> (identity | None, headers)`: [`Api::login`].
    /// On success the headers remember the user; on failure they forget.
    pub async fn login(
        &self,
        credentials: Identity,
        identifier_name: Option<&str>,
    ) -> (Option<Identity>, Vec<HeaderField>) {
        let name = identifier_name.map(str::to_owned);
        // A timed-out login is a failed one (the timeout is logged).
        self.try_run(move |api| api.login(credentials, name.as_deref()))
            .await
            .unwrap_or_default()
    }

    /// [`login`](Self::login) with a form's `login` and `password`.
    pub async fn login_with_password(
        &self,
        login: &str,
        password: &str,
    ) -> (Option<Identity>, Vec<HeaderField>) {
        let mut credentials = Identity::new();
        credentials.insert("login", login);
        credentials.insert("password", password);
        self.login(credentials, None).await
    }

    /// `-> [headers]`: every identifier's forget headers ([`Api::logout`]); the response to
    /// this request then remembers no one.
    pub async fn logout(&self) -> Vec<HeaderField> {
        self.try_run_repeatable(|api| api.logout(None))
            .await
            .unwrap_or_default()
    }

    /// Runs ingress and reports what the edge needs: a response to send instead of the
    /// application's, or who the user is and which headers plugins edit.
    /// `Err` when a plugin call timed out (edges answer [`timeout_response`]).
    pub(crate) async fn ingress(
        &self,
    ) -> Result<Result<Admission, rewho_plugin_api::Response>, CallTimeout> {
        self.try_run_repeatable(|api| match api.ingress() {
            Ingress::Respond(r) => Err(r),
            Ingress::PassThrough | Ingress::Continue => Ok(Admission {
                userid: api.userid().map(Value::to_display_string),
                edits: api.environ().downstream_edits().to_vec(),
            }),
        })
        .await
    }
}

/// What edges answer when a plugin call timed out ([`WhoApi::try_run`]): 503, without naming
/// the plugin (the log does).
pub fn timeout_response() -> rewho_plugin_api::Response {
    rewho_plugin_api::Response::new(503)
        .with_header("Content-Type", "text/plain; charset=utf-8")
        .with_header("Retry-After", "5")
        .with_body(
            &b"authentication is temporarily unavailable: a plugin did not answer in time\n"[..],
        )
}

/// Plugin headers (remember, forget) as an HTTP header map, e.g. to return from an axum
/// handler. Headers that are not valid HTTP are dropped with a warning.
pub fn to_header_map(fields: &[HeaderField]) -> HeaderMap {
    let mut map = HeaderMap::new();
    append_fields(&mut map, fields);
    map
}
