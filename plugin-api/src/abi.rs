//! The FFI surface of ABI 1.0: what crosses the shared-library boundary, declared once.
//!
//! Plugin authors never touch this module; they implement the plain traits in
//! [`roles`](crate::roles) and call [`export_plugin!`](crate::export_plugin). The host uses
//! the aliases ([`IdentifierObj`], …) so generated `_TO` names never leak out.
//!
//! # How ABI 1.0 grows (read before changing anything here)
//! abi_stable checks, when a library is loaded, every type reachable from [`PluginModule`], and
//! it lets only the *library's* side of a type be longer. A type the host builds (the request,
//! the environ, the host context) could then never gain a method without refusing every older
//! plugin, and a type the library builds could never gain one the host needs. So:
//!
//! 1. **Everything reachable from [`PluginModule`] is frozen at 1.0.** No field, method or
//!    variant is ever added, removed or changed in this module's types. The snapshot test
//!    (`host/tests/abi_snapshot.rs`, built from `tests/fixtures/abi-1.0/`) loads a plugin built
//!    against the released 1.0 sources into the current host and fails if anything here moved.
//! 2. **Host-built objects are opaque** ([`RequestAbi`], [`EnvironAbi`], [`HostAbi`],
//!    [`FactoryContextAbi`]): the plugin reaches them only through methods the host implements,
//!    so what they mean is decided by the host, not compiled into each plugin.
//! 3. **Growth goes through named [`Extension`]s**, in both directions. A host offers a new
//!    capability with [`HostAbi::capability`] / [`RequestAbi::capability`]; a plugin offers a
//!    new role (the `authorizer` is the first) in [`PluginObject::extensions`]. Each extension
//!    carries its value's abi_stable layout, and the reader checks it against its own before
//!    use, so a mismatch is an error naming the extension, never undefined behaviour. An
//!    extension's type, once released, is frozen like the 1.0 types; a changed one gets a new
//!    name (`authorizer.v2`).
//! 4. **Per-plugin metadata is a [`Map`]** (roles, I/O, downstream headers, summary, panic
//!    strategy, the host capabilities it needs): hosts ignore keys they do not know and treat
//!    missing keys as their 1.0 defaults, so either side may add keys.
//! 5. [`HostAbi::api_level`] counts host capabilities added after 1.0 ([`HOST_API_LEVEL`]); a
//!    plugin lists what it needs under the metadata key `requires` and an older host refuses it
//!    with the capability's name.
//!
//! A change that cannot follow these rules is ABI 2.0: a new `VERSION_STRINGS` major and a
//! new snapshot, said so in the changelog.

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    sabi_trait,
    sabi_types::{RMut, RRef, VersionStrings},
    std_types::{RArc, RBox, ROption, RResult, RSlice, RStr, RString, RVec},
    type_layout::TypeLayout,
    StableAbi,
};

use crate::value::{Key, Map, Value};

/// The error half of every plugin call: a message for the host's log.
pub type AbiError = RString;

/// The host API level this plugin-api knows: 1 is ABI 1.0 as released. Raised by one for each
/// capability a later host adds (listed in `docs/PLUGINS.md`).
pub const HOST_API_LEVEL: u32 = 1;

/// A borrowed header of the incoming request.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct Header<'a> {
    /// Header name as received (compare case-insensitively).
    pub name: RStr<'a>,
    /// Header value, decoded as UTF-8 (latin-1 bytes are mapped by the host).
    pub value: RStr<'a>,
}

/// An owned header: what plugins return for remember/forget and put in responses.
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq, Eq)]
pub struct HeaderField {
    /// Header name.
    pub name: RString,
    /// Header value.
    pub value: RString,
}

/// A complete HTTP response a plugin produces: a challenge, a redirect, a login page.
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, e.g. 401 or 302.
    pub status: u16,
    /// Response headers.
    pub headers: RVec<HeaderField>,
    /// Response body bytes.
    pub body: RVec<u8>,
}

/// What a plugin sees of the request: the host implements it over its own request type.
#[sabi_trait]
pub trait RequestAbi {
    /// `GET`, `POST`, …
    fn method(&self) -> RStr<'_>;
    /// `http` or `https` as the client used it (from trusted proxy headers only).
    fn scheme(&self) -> RStr<'_>;
    /// The `Host` the client asked for, possibly with a port.
    fn host(&self) -> RStr<'_>;
    /// The path, percent-encoded as received.
    fn path(&self) -> RStr<'_>;
    /// The query string without `?`.
    fn query(&self) -> RStr<'_>;
    /// The TCP peer's address without port (a proxy, when there is one).
    fn peer_addr(&self) -> RStr<'_>;
    /// The client's address, derived from trusted proxies' headers (see docs/SERVING.md).
    fn client_addr(&self) -> RStr<'_>;
    /// The number of request headers.
    fn header_count(&self) -> usize;
    /// The header at `index` in arrival order.
    fn header_at(&self, index: usize) -> ROption<Header<'_>>;
    /// The first header called `name` (case-insensitive).
    fn header(&self, name: RStr<'_>) -> ROption<RStr<'_>>;
    /// The value of cookie `name` (first match, `"..."` unquoted as Python's `SimpleCookie`).
    fn cookie(&self, name: RStr<'_>) -> ROption<RStr<'_>>;
    /// A request capability added after 1.0, by name.
    #[sabi(last_prefix_field)]
    fn capability(&self, name: RStr<'_>) -> ROption<Extension>;
}

/// The per-request state every plugin of one request shares (repoze's WSGI environ minus the
/// request): extra values, downstream header edits, a replacement response. Host-implemented.
#[sabi_trait]
pub trait EnvironAbi {
    /// The extra value under `key`.
    fn get(&self, key: RStr<'_>) -> ROption<&Value>;
    /// Stores an extra value.
    fn set(&mut self, key: Key, value: Value);
    /// Removes an extra value.
    fn remove(&mut self, key: RStr<'_>) -> ROption<Value>;
    /// All extra values.
    fn values(&self) -> &Map;
    /// Sets (`RSome`) or removes (`RNone`) a header on the downstream request. `always`: the
    /// edit applies even when the request is not authenticated (otherwise it is dropped then).
    fn edit_downstream(&mut self, name: RString, value: ROption<RString>, always: bool);
    /// The downstream edits so far, in order.
    fn downstream_edits(&self) -> RVec<HeaderEdit>;
    /// Replaces the application's response (repoze's `repoze.who.application`).
    fn replace_response(&mut self, response: Response);
    /// The replacement response, if one was set.
    fn response(&self) -> ROption<&Response>;
    /// Takes the replacement response out.
    fn take_response(&mut self) -> ROption<Response>;
    /// An environ capability added after 1.0, by name.
    #[sabi(last_prefix_field)]
    fn capability(&self, name: RStr<'_>) -> ROption<Extension>;
}

/// A change to the request the host passes downstream (to the app or the upstream).
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq, Eq)]
pub struct HeaderEdit {
    /// Header name.
    pub name: RString,
    /// `RSome(value)` sets the header (replacing incoming copies); `RNone` removes it.
    pub value: ROption<RString>,
    /// Applies to unauthenticated requests too.
    pub always: bool,
}

/// A borrowed request view, as role methods receive it.
pub type RequestRef<'a> = RequestAbi_TO<'a, RRef<'a, ()>>;
/// A borrowed, mutable environ, as role methods receive it.
pub type EnvironMut<'a> = EnvironAbi_TO<'a, RMut<'a, ()>>;

/// ABI form of [`Identifier`](crate::roles::Identifier).
#[sabi_trait]
pub trait IdentifierAbi: Send + Sync {
    /// See [`Identifier::identify`](crate::roles::Identifier::identify).
    fn identify(&self, req: RequestRef<'_>, env: EnvironMut<'_>)
        -> RResult<ROption<Map>, AbiError>;
    /// See [`Identifier::remember`](crate::roles::Identifier::remember).
    fn remember(
        &self,
        req: RequestRef<'_>,
        env: EnvironMut<'_>,
        identity: &Map,
    ) -> RResult<RVec<HeaderField>, AbiError>;
    /// See [`Identifier::forget`](crate::roles::Identifier::forget).
    #[sabi(last_prefix_field)]
    fn forget(
        &self,
        req: RequestRef<'_>,
        env: EnvironMut<'_>,
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
        req: RequestRef<'_>,
        env: EnvironMut<'_>,
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
        req: RequestRef<'_>,
        env: EnvironMut<'_>,
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
        req: RequestRef<'_>,
        env: EnvironMut<'_>,
        identity: &mut Map,
    ) -> RResult<(), AbiError>;
}

/// ABI form of [`RequestClassifier`](crate::roles::RequestClassifier).
#[sabi_trait]
pub trait RequestClassifierAbi: Send + Sync {
    /// See [`RequestClassifier::classify`](crate::roles::RequestClassifier::classify).
    #[sabi(last_prefix_field)]
    fn classify(&self, req: RequestRef<'_>, env: EnvironMut<'_>) -> RResult<Key, AbiError>;
}

/// ABI form of [`ChallengeDecider`](crate::roles::ChallengeDecider).
#[sabi_trait]
pub trait ChallengeDeciderAbi: Send + Sync {
    /// See [`ChallengeDecider::decide`](crate::roles::ChallengeDecider::decide).
    #[sabi(last_prefix_field)]
    fn decide(
        &self,
        req: RequestRef<'_>,
        env: EnvironMut<'_>,
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

/// ABI form of the host context a plugin keeps (see [`Host`](crate::Host)).
#[sabi_trait]
pub trait HostAbi: Send + Sync {
    /// The host's API level ([`HOST_API_LEVEL`] of the plugin-api it was built with).
    fn api_level(&self) -> u32;
    /// Another plugin built earlier from its `[plugin:NAME]` section. The host returns a view
    /// whose calls it accounts like chain calls (metrics, `call_timeout`, I/O).
    fn plugin(&self, name: RStr<'_>) -> ROption<PluginObjectRef>;
    /// Logs through the host's subscriber, tagged with the calling plugin's id.
    fn log(&self, level: LogLevel, message: RStr<'_>);
    /// The host's clock (tests may fix it).
    fn now(&self) -> UnixTime;
    /// Whether the calling plugin may block (I/O, a slow hash) in the call it is making now.
    fn may_block(&self) -> bool;
    /// A host capability added after 1.0, by name.
    #[sabi(last_prefix_field)]
    fn capability(&self, name: RStr<'_>) -> ROption<Extension>;
}

/// What a factory receives to build one plugin. Host-implemented.
#[sabi_trait]
pub trait FactoryContextAbi {
    /// The section id, `auth_tkt` for `[plugin:auth_tkt]`.
    fn plugin_id(&self) -> RStr<'_>;
    /// The factory name the library is asked for.
    fn factory(&self) -> RStr<'_>;
    /// The section's options except `use`, lower-cased names, interpolated values.
    fn options(&self) -> RVec<OptionEntry<'_>>;
    /// The config file's folder (`%(here)s`).
    fn config_dir(&self) -> RStr<'_>;
    /// The host context the plugin keeps for its lifetime.
    fn host(&self) -> HostRef;
    /// A factory-time capability added after 1.0, by name.
    #[sabi(last_prefix_field)]
    fn capability(&self, name: RStr<'_>) -> ROption<Extension>;
}

/// One option of a `[plugin:ID]` section, as written (after interpolation).
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct OptionEntry<'a> {
    /// Lower-cased option name.
    pub key: RStr<'a>,
    /// Interpolated value.
    pub value: RStr<'a>,
    /// Only in the host's ABI-mismatch test fixture: changes this type's layout on purpose.
    #[cfg(feature = "__abi_break_for_tests")]
    #[doc(hidden)]
    pub __abi_break: u64,
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
/// A borrowed factory context.
pub type FactoryContextRef<'a> = FactoryContextAbi_TO<'a, RRef<'a, ()>>;

/// A built plugin: one object that plays one or more roles (auth_tkt is an identifier and an
/// authenticator). Each present field is a view of the same underlying plugin value; roles
/// added after 1.0 are [`extensions`](Self::extensions).
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
    /// Roles and features added after 1.0, by name (`authorizer`).
    pub extensions: RVec<Extension>,
    /// The plugin's metadata record (see [`PluginModule::factories`]), as built.
    pub metadata: Map,
}

/// A shared handle to a built plugin.
pub type PluginObjectRef = RArc<PluginObject>;

/// A named value of a type added after 1.0, with its layout so the reader can check it.
///
/// Built with [`Extension::new`] and read with [`Extension::get`]; the value is dropped by the
/// library that made it.
#[repr(C)]
#[derive(StableAbi)]
pub struct Extension {
    /// The extension's name (`authorizer`, `host.metrics`).
    pub name: RStr<'static>,
    #[sabi(unsafe_opaque_field)]
    layout: &'static TypeLayout,
    #[sabi(unsafe_opaque_field)]
    data: *mut (),
    drop_data: unsafe extern "C" fn(*mut ()),
}

// SAFETY: `Extension::new` only accepts `Send + Sync` values.
unsafe impl Send for Extension {}
// SAFETY: as above.
unsafe impl Sync for Extension {}

/// Why an extension cannot be read as the type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionMismatch {
    /// The extension's name.
    pub name: String,
    /// abi_stable's description of the difference.
    pub reason: String,
}

impl std::fmt::Display for ExtensionMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "extension `{}` has an incompatible layout: {}",
            self.name, self.reason
        )
    }
}

impl std::error::Error for ExtensionMismatch {}

impl Extension {
    /// Wraps `value` under `name`.
    pub fn new<T: StableAbi + Send + Sync + 'static>(name: &'static str, value: T) -> Self {
        unsafe extern "C" fn drop_box<T>(data: *mut ()) {
            // SAFETY: `data` came from `Box::into_raw(Box::<T>::new(..))` in `new` and is
            // dropped exactly once, by `Extension::drop`.
            drop(unsafe { Box::from_raw(data.cast::<T>()) });
        }
        Extension {
            name: RStr::from_str(name),
            layout: T::LAYOUT,
            data: Box::into_raw(Box::new(value)).cast(),
            drop_data: drop_box::<T>,
        }
    }

    /// The value as `T`, after checking that `T`'s layout (as this side was compiled) is
    /// compatible with the layout the value was built with. Costly (a layout walk): call it once
    /// at load, not per request.
    pub fn get<T: StableAbi>(&self) -> Result<&T, ExtensionMismatch> {
        abi_stable::abi_stability::abi_checking::check_layout_compatibility(T::LAYOUT, self.layout)
            .map_err(|e| ExtensionMismatch {
                name: self.name.as_str().to_owned(),
                reason: e.to_string(),
            })?;
        // SAFETY: `data` points to a live value whose layout abi_stable just found compatible
        // with `T`'s; it lives as long as `self`.
        Ok(unsafe { &*self.data.cast::<T>() })
    }
}

impl Extension {
    /// The value as `T` without the layout check.
    ///
    /// # Safety
    /// [`get::<T>`](Self::get) must have succeeded on this extension before.
    pub unsafe fn get_unchecked<T>(&self) -> &T {
        // SAFETY: the caller checked the layout; the value lives as long as `self`.
        unsafe { &*self.data.cast::<T>() }
    }
}

impl Drop for Extension {
    fn drop(&mut self) {
        // SAFETY: `drop_data` was made for `data`'s type in `new`; it runs once.
        unsafe { (self.drop_data)(self.data) }
    }
}

impl std::fmt::Debug for Extension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Extension({})", self.name)
    }
}

/// Describes one factory a library offers.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct FactoryInfo {
    /// The name used after `:` in `use = lib:NAME` (or alone for the default factory).
    pub name: RStr<'static>,
    /// The plugin's metadata record: `summary`, `roles`, `does_io`, `asks_before_blocking`,
    /// `downstream_headers`, `panic`, `sdk_version`, `requires` (see docs/PLUGINS.md).
    pub metadata: extern "C" fn() -> Map,
}

/// The root module every plugin library exports, checked field by field by abi_stable when
/// the host loads the library. Frozen at 1.0: see the module docs.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// The factories this library offers; the first is the default for `use = name`.
    pub factories: RSlice<'static, FactoryInfo>,
    /// Builds the plugin named by `ctx.factory()`. Never unwinds: panics become `RErr`. The
    /// error is a map with `message` and, when one option is at fault, `option`.
    #[sabi(last_prefix_field)]
    pub make: extern "C" fn(ctx: FactoryContextRef<'_>) -> RResult<PluginObjectRef, Map>,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "rewho_plugin";
    const NAME: &'static str = "rewho plugin";
    /// The ABI version, not the crate's: 1.0 for as long as ABI 1.0 lasts.
    const VERSION_STRINGS: VersionStrings = VersionStrings {
        version: RStr::from_str("1.0.0"),
    };
}
