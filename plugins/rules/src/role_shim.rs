// replaced by rewho_plugin_api's Authorizer when ABI 1.0 lands
//! Stand-ins for the SDK's `Authorizer` role until plugin-api 1.0 has it: the same names and
//! shapes, so switching over is an import change plus `authorizer` in `export_plugin!`.

use rewho_plugin_api::{Environ, Identity, PluginError, Request};

/// What an authorizer says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let the request through.
    Allow,
    /// Refuse it: a challenge for an anonymous request, 403 for an authenticated one.
    Deny,
    /// Not this authorizer's business: the next one decides.
    Abstain,
}

/// An authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Allow, deny or abstain.
    pub decision: Decision,
    /// which rule decided, for --explain and audit lines (no secrets)
    pub reason: String,
}

/// Decides whether a request may proceed, after the metadata providers ran.
pub trait Authorizer: Send + Sync + 'static {
    /// `(request, identity | None) -> allow | deny | abstain`
    fn authorize(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: Option<&Identity>,
    ) -> Result<Authorization, PluginError>;
}
