//! The FFI surface: what crosses the shared-library boundary, declared once.
//!
//! Plugin authors never touch this module; they implement the plain traits in
//! [`roles`](crate::roles) and call [`export_plugin!`](crate::export_plugin). The host uses
//! the aliases at the bottom ([`IdentifierObj`], …) so generated `_TO` names never leak out.
//!
//! # Evolving the ABI
//! Every `#[sabi_trait]` marks its last original method with `#[sabi(last_prefix_field)]`:
//! new methods go below it (with default implementations). abi_stable's load-time check lets
//! the library's side of such a vtable be *longer* than the host's, never shorter: a plugin
//! built against a newer plugin-api loads in an older host, while a plugin built before a
//! method was added is refused by a newer host with a layout error naming the type (the
//! `VTable` of that trait), and must be rebuilt. [`HostAbi::may_block`] and
//! [`HostAbi::asks_before_blocking`] were added this way. Changing anything above the marker
//! is a breaking change of plugin-api's version.

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RArc, RBox, ROption, RResult, RSlice, RStr, RString, RVec},
    StableAbi,
};

use crate::request::{Environ, HeaderField, Request, Response};
use crate::value::{Key, Map, Value};

/// The error half of every plugin call: a message for the host's log.
pub type AbiError = RString;

/// ABI form of [`Identifier`](crate::roles::Identifier).
#[sabi_trait]
pub trait IdentifierAbi: Send + Sync {
    /// See [`Identifier::identify`](crate::roles::Identifier::identify).
    fn identify(&self, req: &Request<'_>, env: &mut Environ) -> RResult<ROption<Map>, AbiError>;
    /// See [`Identifier::remember`](crate::roles::Identifier::remember).
    fn remember(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &Map,
    ) -> RResult<RVec<HeaderField>, AbiError>;
    /// See [`Identifier::forget`](crate::roles::Identifier::forget).
    #[sabi(last_prefix_field)]
    fn forget(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &Map,
    ) -> RResult<RVec<HeaderField>, AbiError>;
}

/// ABI form of [`Authenticator`](crate::roles::Authenticator).
#[sabi_trait]
pub trait AuthenticatorAbi: Send + Sync {
    /// See [`Authenticator::authenticate`](crate::roles::Authenticator::authenticate).
    #[sabi(last_prefix_field)]
    fn authenticate(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &mut Map,
    ) -> RResult<ROption<Value>, AbiError>;
}

/// ABI form of [`Challenger`](crate::roles::Challenger).
#[sabi_trait]
pub trait ChallengerAbi: Send + Sync {
    /// See [`Challenger::challenge`](crate::roles::Challenger::challenge).
    #[sabi(last_prefix_field)]
    fn challenge(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        status: u16,
        app_headers: RSlice<'_, HeaderField>,
        forget_headers: RSlice<'_, HeaderField>,
    ) -> RResult<ROption<Response>, AbiError>;
}

/// ABI form of [`MetadataProvider`](crate::roles::MetadataProvider).
#[sabi_trait]
pub trait MetadataProviderAbi: Send + Sync {
    /// See [`MetadataProvider::add_metadata`](crate::roles::MetadataProvider::add_metadata).
    #[sabi(last_prefix_field)]
    fn add_metadata(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &mut Map,
    ) -> RResult<(), AbiError>;
}

/// ABI form of [`RequestClassifier`](crate::roles::RequestClassifier).
#[sabi_trait]
pub trait RequestClassifierAbi: Send + Sync {
    /// See [`RequestClassifier::classify`](crate::roles::RequestClassifier::classify).
    #[sabi(last_prefix_field)]
    fn classify(&self, req: &Request<'_>, env: &mut Environ) -> RResult<Key, AbiError>;
}

/// ABI form of [`ChallengeDecider`](crate::roles::ChallengeDecider).
#[sabi_trait]
pub trait ChallengeDeciderAbi: Send + Sync {
    /// See [`ChallengeDecider::decide`](crate::roles::ChallengeDecider::decide).
    #[sabi(last_prefix_field)]
    fn decide(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        status: u16,
        headers: RSlice<'_, HeaderField>,
    ) -> RResult<bool, AbiError>;
}

/// Severity of a message a plugin logs through the host.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation worth noting.
    Info,
    /// Something is wrong but requests still get answers.
    Warn,
    /// A failure.
    Error,
}

/// Seconds and nanoseconds since the Unix epoch, from the host's clock.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnixTime {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

/// ABI form of the host context a plugin receives (see [`Host`](crate::Host)).
#[sabi_trait]
pub trait HostAbi: Send + Sync {
    /// Another plugin built earlier from its `[plugin:NAME]` section.
    fn plugin(&self, name: RStr<'_>) -> ROption<PluginObjectRef>;
    /// Logs through the host's `tracing` subscriber, tagged with the calling plugin's id.
    fn log(&self, level: LogLevel, message: RStr<'_>);
    /// The host's clock (tests may fix it).
    #[sabi(last_prefix_field)]
    fn now(&self) -> UnixTime;
    /// Whether the calling plugin may block (I/O, a slow hash) in the call it is making now.
    /// `false` while an async edge runs the chain on a reactor thread, trying it before
    /// handing it to a blocking thread: the plugin should return at once (an error will do)
    /// and the host runs the whole request again where blocking is fine. Added below the
    /// last prefix field: a host without it never runs an I/O chain inline, hence the default.
    fn may_block(&self) -> bool {
        true
    }
    /// Called by a plugin's factory to promise that the plugin asks [`may_block`] before
    /// everything that may block; without that promise the host never runs a chain holding a
    /// plugin that does I/O on a reactor thread. Added below the last prefix field.
    ///
    /// [`may_block`]: HostAbi::may_block
    fn asks_before_blocking(&self) {}
}

/// A boxed identifier role object.
pub type IdentifierObj = IdentifierAbi_TO<'static, RBox<()>>;
/// A boxed authenticator role object.
pub type AuthenticatorObj = AuthenticatorAbi_TO<'static, RBox<()>>;
/// A boxed challenger role object.
pub type ChallengerObj = ChallengerAbi_TO<'static, RBox<()>>;
/// A boxed metadata provider role object.
pub type MetadataProviderObj = MetadataProviderAbi_TO<'static, RBox<()>>;
/// A boxed request classifier role object.
pub type RequestClassifierObj = RequestClassifierAbi_TO<'static, RBox<()>>;
/// A boxed challenge decider role object.
pub type ChallengeDeciderObj = ChallengeDeciderAbi_TO<'static, RBox<()>>;
/// The host context object handed to a plugin's factory.
pub type HostObj = HostAbi_TO<'static, RBox<()>>;
/// A shared handle to the host context.
pub type HostRef = RArc<HostObj>;

/// A built plugin: one object that plays one or more roles (auth_tkt is an identifier and an
/// authenticator). Each present field is a view of the same underlying plugin value.
#[repr(C)]
#[derive(StableAbi)]
pub struct PluginObject {
    /// Present when the plugin identifies, remembers and forgets.
    pub identifier: ROption<IdentifierObj>,
    /// Present when the plugin authenticates identities.
    pub authenticator: ROption<AuthenticatorObj>,
    /// Present when the plugin challenges.
    pub challenger: ROption<ChallengerObj>,
    /// Present when the plugin adds metadata.
    pub mdprovider: ROption<MetadataProviderObj>,
    /// Present when the plugin classifies requests.
    pub classifier: ROption<RequestClassifierObj>,
    /// Present when the plugin decides whether to challenge.
    pub decider: ROption<ChallengeDeciderObj>,
    /// `true` when calls may block on I/O (network, disk): async edges then run the chain
    /// off their reactor threads.
    pub does_io: bool,
}

/// A shared handle to a built plugin.
pub type PluginObjectRef = RArc<PluginObject>;

/// One option of a `[plugin:ID]` section, as written (after interpolation).
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct OptionEntry<'a> {
    /// Lower-cased option name.
    pub key: RStr<'a>,
    /// Interpolated value.
    pub value: RStr<'a>,
}

/// Everything a factory receives to build one plugin.
#[repr(C)]
#[derive(StableAbi)]
pub struct FactoryContextAbi<'a> {
    /// The section id, `auth_tkt` for `[plugin:auth_tkt]`.
    pub plugin_id: RStr<'a>,
    /// The factory name the library is asked for.
    pub factory: RStr<'a>,
    /// The section's options except `use`.
    pub options: RSlice<'a, OptionEntry<'a>>,
    /// The config file's folder (`%(here)s`): relative file options resolve against it.
    pub config_dir: RStr<'a>,
    /// The host context this plugin keeps for its lifetime.
    pub host: HostRef,
}

/// Describes one factory a library offers.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct FactoryInfo {
    /// The name used after `:` in `use = lib:NAME` (or alone for the default factory).
    pub name: RStr<'static>,
    /// A one-line description shown by `rewho check`.
    pub summary: RStr<'static>,
}

/// The root module every plugin library exports; versioned by plugin-api's crate version and
/// checked field by field by abi_stable when the host loads the library.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// The factories this library offers; the first is the default for `use = name`.
    pub factories: RSlice<'static, FactoryInfo>,
    /// Builds the plugin named by `ctx.factory`. Never unwinds: panics become `RErr`.
    #[sabi(last_prefix_field)]
    pub make: extern "C" fn(ctx: &FactoryContextAbi<'_>) -> RResult<PluginObjectRef, AbiError>,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "rewho_plugin";
    const NAME: &'static str = "rewho plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
