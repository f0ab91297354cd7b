//! The six plugin roles, every contract in one place (as repoze.who's `interfaces.py`).
//!
//! A plugin type implements [`Plugin`] (how it is built from its `[plugin:ID]` section) and
//! one or more role traits. Every method returns `Result<_, PluginError>`, and the two halves
//! mean different things:
//!
//! - `Ok(None)` / `Ok(vec![])` / `Ok(false)`: "not mine". The host moves on to the next
//!   plugin exactly as repoze.who does when a plugin returns `None`.
//! - `Err(_)`: "broken" (a backend is down, a file is unreadable). The host logs it with the
//!   plugin's name and treats the plugin as having failed *for this request only*.
//!
//! A panic inside any method is caught at the library boundary and becomes an `Err` too; it
//! never unwinds into the host. All methods take `&self` and may run concurrently on many
//! threads: keep per-request state in the [`Environ`], not in the plugin.
//!
//! # Example
//! ```
//! use rewho_plugin_api::{
//!     Authenticator, Environ, FactoryContext, Identity, Plugin, PluginError, Request, Value,
//! };
//!
//! /// Accepts one fixed login (a toy: real plugins check a store).
//! struct OneUser { login: String, password: String }
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Options { login: String, password: String }
//!
//! impl Plugin for OneUser {
//!     type Options = Options;
//!     fn new(o: Options, _ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
//!         Ok(OneUser { login: o.login, password: o.password })
//!     }
//! }
//!
//! // IAuthenticator
//! impl Authenticator for OneUser {
//!     fn authenticate(&self, _req: &Request<'_>, _env: &mut Environ<'_>, identity: &mut Identity)
//!         -> Result<Option<Value>, PluginError>
//!     {
//!         let (Some(login), Some(password)) = (identity.get_str("login"), identity.get_str("password"))
//!         else { return Ok(None) };
//!         let ok = login == self.login
//!             && rewho_plugin_api::constant_time_eq(password.as_bytes(), self.password.as_bytes());
//!         Ok(ok.then(|| Value::from(login)))
//!     }
//! }
//! ```
//! A library then exports it with
//! `rewho_plugin_api::export_plugin! { "one_user" => OneUser: [authenticator] }`.

use serde::de::DeserializeOwned;

use crate::context::FactoryContext;
use crate::request::{Environ, HeaderField, Request, Response};
use crate::value::{Identity, Key, Value};

/// A failure of one plugin call: a message for the host's log (never shown to clients).
///
/// Keep secrets out of it: it is logged verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError(pub String);

impl PluginError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        PluginError(message.into())
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PluginError {}

impl From<String> for PluginError {
    fn from(s: String) -> Self {
        PluginError(s)
    }
}

impl From<&str> for PluginError {
    fn from(s: &str) -> Self {
        PluginError(s.to_owned())
    }
}

impl From<crate::options::OptionsError> for PluginError {
    fn from(e: crate::options::OptionsError) -> Self {
        PluginError(e.message)
    }
}

/// How a plugin is built from its `[plugin:ID]` section.
///
/// `Options` is a serde struct; use `#[serde(deny_unknown_fields)]` so a misspelt option is an
/// error naming the section and key rather than a silently ignored line.
///
/// # Errors
/// Return `Err` for options that are individually valid but wrong together (say, both
/// `secret` and `secretfile`); start-up stops with your message and the section name.
pub trait Plugin: Sized + Send + Sync + 'static {
    /// The section's options.
    type Options: DeserializeOwned;
    /// One line for `rewho check`.
    const SUMMARY: &'static str = "";
    /// `true` when calls block on I/O (network, disk): async edges then run the chain off
    /// their reactor threads. CPU-only plugins leave it `false` and run inline.
    const DOES_IO: bool = false;
    /// `true` (with [`DOES_IO`](Self::DOES_IO)) when every call asks
    /// [`Host::may_block`](crate::Host::may_block) before it blocks and returns when the answer
    /// is no. Async edges then run the chain inline first, and hand it to a blocking thread
    /// only when a plugin asked: a plugin whose I/O is rare (htpasswd re-reads its file once
    /// a second, bcrypt only for some entries) then costs no thread hand-off per request.
    const ASKS_BEFORE_BLOCKING: bool = false;
    /// The downstream header names this plugin sets to carry an identity
    /// ([`Environ::set_downstream_header`]), such as `X-Remote-User` or `X-Api-User`. The
    /// edges strip client copies of every declared name from every request, the very first
    /// one after start included, so a client can never forge one. Do not declare a header a
    /// client may legitimately send when the plugin has nothing to say (redis_session's
    /// `Authorization`): such an edit replaces the client's copy only when it applies.
    const DOWNSTREAM_HEADERS: &'static [&'static str] = &[];
    /// Host capabilities (by name, see docs/PLUGINS.md) this plugin cannot work without. A host
    /// that lacks one refuses to load the plugin and names the capability.
    const REQUIRES: &'static [&'static str] = &[];
    /// Builds the plugin. `ctx` gives the section id, the config folder and the [`Host`](crate::Host).
    fn new(options: Self::Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError>;

    /// The downstream header names this built plugin may set or remove: by default
    /// [`DOWNSTREAM_HEADERS`](Self::DOWNSTREAM_HEADERS); override it when the names come from
    /// options (redis_session's `uuid_header`, header's `user_header`). The host reads it
    /// once, after the factory returns.
    fn downstream_headers(&self) -> Vec<String> {
        Self::DOWNSTREAM_HEADERS
            .iter()
            .map(|h| (*h).to_owned())
            .collect()
    }
}

/// Extracts credentials from a request, and remembers or forgets them in the response.
///
/// repoze.who's `IIdentifier`.
pub trait Identifier: Send + Sync + 'static {
    /// `request -> identity | None`
    ///
    /// - Return `Ok(None)` when the request carries no credentials this plugin understands.
    /// - A login/password identifier should use the keys `login` and `password`, which the
    ///   standard authenticators expect.
    /// - A ticket-style identifier that already knows the user sets
    ///   [`USERID_KEY`](crate::USERID_KEY) and implements [`Authenticator`] to accept it.
    /// - It may call [`Environ::replace_response`] to answer the request itself (a redirect
    ///   to obtain credentials); the last identifier to do so wins.
    fn identify(
        &self,
        req: &Request<'_>,
        env: &mut Environ<'_>,
    ) -> Result<Option<Identity>, PluginError>;

    /// `identity -> [headers]`: headers that let the client come back as `identity`
    /// (a `Set-Cookie`). Appended to the application's response. Empty when nothing is needed.
    fn remember(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ<'_>,
        _identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        Ok(Vec::new())
    }

    /// `identity -> [headers]`: headers that make the client drop its credentials (an expired
    /// `Set-Cookie`). They go into the challenge response and into logout responses.
    fn forget(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ<'_>,
        _identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        Ok(Vec::new())
    }
}

/// Validates an identity and names its user.
///
/// repoze.who's `IAuthenticator`.
pub trait Authenticator: Send + Sync + 'static {
    /// `identity -> userid | None`
    ///
    /// - Return `Ok(None)` for an identity you do not understand (no `login` key, say):
    ///   never `Err` for that, as repoze.who requires of authenticators.
    /// - Any value is a valid user id, including `0` and the empty string.
    /// - You may add keys to `identity` (metadata read from the same backend).
    /// - Called once per identity found in the request, for each matching authenticator.
    fn authenticate(
        &self,
        req: &Request<'_>,
        env: &mut Environ<'_>,
        identity: &mut Identity,
    ) -> Result<Option<Value>, PluginError>;
}

/// Produces the response that asks the client for credentials.
///
/// repoze.who's `IChallenger`.
pub trait Challenger: Send + Sync + 'static {
    /// `(status, app_headers, forget_headers) -> response | None`
    ///
    /// - Include `forget_headers` in your response: they clear stale credentials.
    /// - Return `Ok(None)` to let the next challenger answer; the first answer wins.
    fn challenge(
        &self,
        req: &Request<'_>,
        env: &mut Environ<'_>,
        status: u16,
        app_headers: &[HeaderField],
        forget_headers: &[HeaderField],
    ) -> Result<Option<Response>, PluginError>;
}

/// Adds data about an authenticated user to its identity.
///
/// repoze.who's `IMetadataProvider`.
pub trait MetadataProvider: Send + Sync + 'static {
    /// `identity -> ()`: scribble on `identity`. It always holds
    /// [`USERID_KEY`](crate::USERID_KEY). Runs only for the winning identity.
    fn add_metadata(
        &self,
        req: &Request<'_>,
        env: &mut Environ<'_>,
        identity: &mut Identity,
    ) -> Result<(), PluginError>;
}

/// Names the kind of request (`browser`, `dav`, `xmlpost`, …) so chains can filter plugins
/// with `name;classifier` entries.
///
/// repoze.who's `IRequestClassifier`.
pub trait RequestClassifier: Send + Sync + 'static {
    /// `request -> classification`. Every request is classified, so return a literal where
    /// you can (`Ok("browser".into())`): it is borrowed, not copied (see [`Key`]).
    fn classify(&self, req: &Request<'_>, env: &mut Environ<'_>) -> Result<Key, PluginError>;
}

/// Decides from the application's response whether to challenge.
///
/// repoze.who's `IChallengeDecider`.
pub trait ChallengeDecider: Send + Sync + 'static {
    /// `(status, headers) -> bool`: `true` to replace the response with a challenge.
    fn decide(
        &self,
        req: &Request<'_>,
        env: &mut Environ<'_>,
        status: u16,
        headers: &[HeaderField],
    ) -> Result<bool, PluginError>;
}
