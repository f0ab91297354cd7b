//! rewho: an authentication host in the spirit of repoze.who.
//!
//! Read a repoze-style `who.ini` ([`Config`]), load each plugin from its shared library
//! ([`PluginLibrary`]), wire the chains into an [`ApiFactory`], and run one [`Api`] per
//! request. Modules follow a request's path: `config` → `loader` → `registry` → `api`.
#![warn(missing_docs)]

#[cfg(feature = "mimalloc")]
pub mod alloc;
mod api;
pub mod audit;
mod builtins;
#[cfg_attr(not(feature = "server"), allow(dead_code))]
mod call_timeout;
pub mod config;
pub mod creds_http;
#[cfg(feature = "server")]
#[doc(hidden)]
pub mod fuzzing;
mod inline;
mod loader;
pub mod logline;
#[cfg(feature = "server")]
mod middleware;
mod registry;
mod request;
#[cfg(feature = "server")]
pub mod server;

pub use api::{
    forbidden, Api, ApiFactory, ApiFactoryBuilder, ApiState, Authz, CallObserver, ChainLink,
    Egress, EntrySpec, FactoryError, Ingress, Role, SetupError,
};
pub use builtins::{builtin_library, classify_request, map_dotted_name};
pub use call_timeout::{CallTimeout, DEFAULT_CALL_TIMEOUT};
pub use config::{Config, ConfigError};
pub use loader::{LoadError, PluginLibrary, PluginPath};
#[cfg(feature = "server")]
pub use middleware::{
    timeout_response, to_header_map, InvalidProxy, MaybeWhoIdentity, ResponseFuture, SharedFactory,
    TrustedProxies, WhoApi, WhoBody, WhoIdentity, WhoLayer, WhoRejection, WhoService,
    REMOTE_USER_HEADER,
};
pub use registry::{system_clock, BuildError, Clock, PluginRegistry, UseSpec, UseTarget};
pub use request::OwnedRequest;
/// The per-request environ an edge prepares and [`Api::environ`] exposes: the host's own
/// state, which plugins reach through the ABI's environ object.
pub use rewho_plugin_api::state::EnvironState;
pub use rewho_plugin_api::{
    HeaderField, Identity, Map, PluginHandle, Request, Response, Value, USERID_KEY,
};
