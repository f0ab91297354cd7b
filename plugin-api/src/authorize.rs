//! The seventh role, `Authorizer`, added after ABI 1.0 as the extension named
//! [`AUTHORIZER_EXTENSION`]: its growth path proves the 1.0 design (a 1.0 plugin has no such
//! extension and is simply not an authorizer; a newer plugin in a 1.0 host is loaded and its
//! extension ignored, or refused when it `requires` it).
//!
//! `authorize(request, identity) -> Allow | Deny | Abstain`, called after the metadata
//! providers with the final identity (or none). The host's `[authorizers]` chain asks each
//! in order; the first that allows or denies decides. Rules for implementors:
//!
//! - Return [`Decision::Abstain`] for a request you have no rule for; the host then asks the
//!   next authorizer, and denies when none decides (fail closed).
//! - An `Err` is a fault, and the host treats it as a deny (fail closed), logged.
//! - Put what decided in [`Authorization::reason`] (a rule's text, never a secret): it is
//!   shown by `rewho check --explain` and written to audit lines.

use abi_stable::{
    sabi_trait,
    std_types::{RBox, ROption, RResult, RString},
    StableAbi,
};

use crate::abi::{AbiError, EnvironMut, RequestRef};
use crate::request::{Environ, Request};
use crate::roles::PluginError;
use crate::value::{Identity, Map};

/// The name of the authorizer extension in [`PluginObject::extensions`](crate::abi::PluginObject).
pub const AUTHORIZER_EXTENSION: &str = "authorizer";

/// What an authorizer says about one request.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The request may proceed.
    Allow,
    /// The request must not proceed: a challenge when anonymous, 403 when authenticated.
    Deny,
    /// No opinion: ask the next authorizer.
    Abstain,
}

/// A decision and what made it (for `--explain` and audit lines; never a secret).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// The decision.
    pub decision: Decision,
    /// Which rule decided, e.g. `rule 3: /admin/** group:admins`.
    pub reason: RString,
}

impl Authorization {
    /// A decision with its reason.
    pub fn new(decision: Decision, reason: impl Into<String>) -> Self {
        Authorization {
            decision,
            reason: RString::from(reason.into()),
        }
    }

    /// The reason as text.
    pub fn reason(&self) -> &str {
        self.reason.as_str()
    }
}

/// Decides whether a request may proceed: see the [module docs](self).
///
/// # Example
/// ```
/// use rewho_plugin_api::{Authorization, Authorizer, Decision, Environ, Identity, PluginError, Request};
///
/// /// Lets only authenticated users in.
/// struct AuthenticatedOnly;
///
/// impl Authorizer for AuthenticatedOnly {
///     fn authorize(&self, _req: &Request<'_>, _env: &mut Environ<'_>, identity: Option<&Identity>)
///         -> Result<Authorization, PluginError>
///     {
///         Ok(match identity {
///             Some(_) => Authorization::new(Decision::Allow, "authenticated"),
///             None => Authorization::new(Decision::Deny, "anonymous"),
///         })
///     }
/// }
/// ```
pub trait Authorizer: Send + Sync + 'static {
    /// `(request, identity | None) -> Allow | Deny | Abstain`.
    fn authorize(
        &self,
        req: &Request<'_>,
        env: &mut Environ<'_>,
        identity: Option<&Identity>,
    ) -> Result<Authorization, PluginError>;
}

/// ABI form of [`Authorizer`]; frozen once released like the 1.0 role traits.
#[sabi_trait]
pub trait AuthorizerAbi: Send + Sync {
    /// See [`Authorizer::authorize`].
    #[sabi(last_prefix_field)]
    fn authorize(
        &self,
        req: RequestRef<'_>,
        env: EnvironMut<'_>,
        identity: ROption<&Map>,
    ) -> RResult<Authorization, AbiError>;
}

/// A boxed authorizer role object.
pub type AuthorizerObj = AuthorizerAbi_TO<'static, RBox<()>>;

impl<T: Authorizer> AuthorizerAbi for crate::export::Adapter<T> {
    fn authorize(
        &self,
        req: RequestRef<'_>,
        env: EnvironMut<'_>,
        identity: ROption<&Map>,
    ) -> RResult<Authorization, AbiError> {
        crate::export::guard(|| {
            let (req, mut env) = (Request::from_abi(req), Environ::from_abi(env));
            self.plugin()
                .authorize(&req, &mut env, identity.into_option())
        })
    }
}
