//! The stable plugin ABI of rewho, and the small SDK plugin authors write against.
//!
//! A key design decision made in this crate is that **plugins are ordinary Rust types behind a
//! checked, stable ABI, called synchronously, and never unloaded**:
//!
//! - **Why abi_stable.** Plugins are `cdylib`s built separately from the host, often by someone
//!   else and with another compiler version. Rust has no stable ABI, so every type that
//!   crosses the boundary is `#[repr(C)]` and derives `StableAbi`; on load the host compares
//!   the layout of every such type with its own and refuses a mismatch with a message naming
//!   the type, instead of corrupting memory.
//! - **Why synchronous calls.** repoze.who's plugins are plain functions, and most of ours are
//!   CPU-only (parse a cookie, check an HMAC). An async ABI would force every plugin to carry a
//!   runtime. A plugin that blocks on I/O says so ([`Plugin::DOES_IO`]) and the async edges run
//!   its chain on a blocking thread.
//! - **Why no unloading.** A library's code may still be referenced by a role object, a
//!   thread-local or a static; unloading it is undefined behaviour waiting to happen, and
//!   abi_stable does not support it either. A reload builds new plugin objects and loads only
//!   libraries it has not seen.
//! - **Why opaque host objects and named extensions (ABI 1.0).** abi_stable lets only a
//!   library's side of a type grow, so a request or host context laid out by the host would
//!   freeze the host forever. In 1.0 the host-built objects are trait objects the host
//!   implements, everything abi_stable checks at load is frozen, and later additions travel as
//!   named, layout-checked [`abi::Extension`]s plus an extensible metadata record. A plugin
//!   built against 1.0 loads in every later 1.x host; see `docs/PLUGINS.md` for the rules.
//! - **Why panics become errors.** Unwinding across `extern "C"` aborts the process. Every call
//!   is wrapped in `catch_unwind`, so a panicking plugin fails one call, not the host.
//!
//! Plugin authors implement [`Plugin`] plus one or more role traits ([`Identifier`],
//! [`Authenticator`], [`Challenger`], [`MetadataProvider`], [`RequestClassifier`],
//! [`ChallengeDecider`]) and call [`export_plugin!`] once. The [`abi`] module holds the FFI
//! types; only the host needs it.
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

// abi_stable's derives expand to `unsafe` blocks; the module itself writes none.
#[allow(unsafe_code, non_local_definitions)]
pub mod abi;
#[allow(unsafe_code, non_local_definitions)]
pub mod authorize;
#[allow(unsafe_code)]
mod context;
#[doc(hidden)]
pub mod export;
mod options;
#[allow(unsafe_code)]
mod request;
mod roles;
#[allow(unsafe_code)]
pub mod state;
pub mod testing;
mod value;

pub use abi::{LogLevel, HOST_API_LEVEL};
pub use authorize::{Authorization, Authorizer, Decision};
pub use context::{FactoryContext, Host, PluginHandle};
pub use options::{from_options, parse_bool, OptionsError};
pub use request::{
    find_cookie, host_without_port, Environ, Header, HeaderEdit, HeaderField, Request, Response,
};
pub use roles::{
    Authenticator, ChallengeDecider, Challenger, Identifier, MetadataProvider, Plugin, PluginError,
    RequestClassifier,
};
pub use value::{Entry, Identity, Key, Map, Value, AUTHENTICATOR_KEY, IDENTIFIER_KEY, USERID_KEY};

/// Compares two byte strings in time that depends only on their lengths, for digests and
/// tokens (a plain `==` returns at the first differing byte and leaks how much matched).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

#[doc(hidden)]
pub mod __private {
    pub use abi_stable::library::{__call_root_module_loader, LibHeader, RootModuleResult};
    pub use abi_stable::std_types::{RResult, RStr};
}
