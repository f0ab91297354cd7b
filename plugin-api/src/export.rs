//! Turning SDK plugin types into ABI objects: what [`export_plugin!`](crate::export_plugin)
//! expands to. Every call that crosses the boundary goes through [`guard`], so a panic in a
//! plugin becomes an error for that call instead of aborting the host.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use abi_stable::{
    library::{CheckTypeLayout, LibHeader, RootModuleResult},
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RArc, ROption, RResult, RSlice, RString, RVec},
};

use crate::abi::*;
use crate::context::FactoryContext;
use crate::request::{Environ, HeaderField, Request, Response};
use crate::roles::*;
use crate::value::{Key, Map, Value};

/// Describes a caught panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Runs `f`, turning both its error and any panic into an `RErr` message.
pub fn guard<T>(f: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, AbiError> {
    let outer = IN_GUARD.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_GUARD.with(|g| g.set(outer));
    match result {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(RString::from(e.0)),
        Err(payload) => RResult::RErr(RString::from(format!(
            "plugin panicked: {}",
            panic_message(payload.as_ref())
        ))),
    }
}

/// Shares one plugin value between the role objects built from it.
pub struct Adapter<T>(Arc<T>);

impl<T> Adapter<T> {
    /// The shared plugin value.
    pub(crate) fn plugin(&self) -> &T {
        &self.0
    }
}

impl<T: Identifier> IdentifierAbi for Adapter<T> {
    fn identify(
        &self,
        req: RequestRef<'_>,
        env: EnvironMut<'_>,
    ) -> RResult<ROption<Map>, AbiError> {
        guard(|| {
            let (req, mut env) = (Request::from_abi(req), Environ::from_abi(env));
            self.0.identify(&req, &mut env).map(ROption::from)
        })
    }
    fn remember(
        &self,
        req: RequestRef<'_>,
        env: EnvironMut<'_>,
        identity: &Map,
    ) -> RResult<RVec<HeaderField>, AbiError> {
        guard(|| {
            let (req, mut env) = (Request::from_abi(req), Environ::from_abi(env));
            self.0.remember(&req, &mut env, identity).map(RVec::from)
        })
    }
    fn forget(
        &self,
        req: RequestRef<'_>,
        env: EnvironMut<'_>,
        identity: &Map,
    ) -> RResult<RVec<HeaderField>, AbiError> {
        guard(|| {
            let (req, mut env) = (Request::from_abi(req), Environ::from_abi(env));
            self.0.forget(&req, &mut env, identity).map(RVec::from)
        })
    }
}

impl<T: Authenticator> AuthenticatorAbi for Adapter<T> {
    fn authenticate(
        &self,
        req: RequestRef<'_>,
        env: EnvironMut<'_>,
        identity: &mut Map,
    ) -> RResult<ROption<Value>, AbiError> {
        guard(|| {
            let (req, mut env) = (Request::from_abi(req), Environ::from_abi(env));
            self.0
                .authenticate(&req, &mut env, identity)
                .map(ROption::from)
        })
    }
}

impl<T: Challenger> ChallengerAbi for Adapter<T> {
    fn challenge(
        &self,
        req: RequestRef<'_>,
        env: EnvironMut<'_>,
        status: u16,
        app_headers: RSlice<'_, HeaderField>,
        forget_headers: RSlice<'_, HeaderField>,
    ) -> RResult<ROption<Response>, AbiError> {
        guard(|| {
            let (req, mut env) = (Request::from_abi(req), Environ::from_abi(env));
            self.0
                .challenge(
                    &req,
                    &mut env,
                    status,
                    app_headers.as_slice(),
                    forget_headers.as_slice(),
                )
                .map(ROption::from)
        })
    }
}

impl<T: MetadataProvider> MetadataProviderAbi for Adapter<T> {
    fn add_metadata(
        &self,
        req: RequestRef<'_>,
        env: EnvironMut<'_>,
        identity: &mut Map,
    ) -> RResult<(), AbiError> {
        guard(|| {
            let (req, mut env) = (Request::from_abi(req), Environ::from_abi(env));
            self.0.add_metadata(&req, &mut env, identity)
        })
    }
}

impl<T: RequestClassifier> RequestClassifierAbi for Adapter<T> {
    fn classify(&self, req: RequestRef<'_>, env: EnvironMut<'_>) -> RResult<Key, AbiError> {
        guard(|| {
            let (req, mut env) = (Request::from_abi(req), Environ::from_abi(env));
            self.0.classify(&req, &mut env)
        })
    }
}

impl<T: ChallengeDecider> ChallengeDeciderAbi for Adapter<T> {
    fn decide(
        &self,
        req: RequestRef<'_>,
        env: EnvironMut<'_>,
        status: u16,
        headers: RSlice<'_, HeaderField>,
    ) -> RResult<bool, AbiError> {
        guard(|| {
            let (req, mut env) = (Request::from_abi(req), Environ::from_abi(env));
            self.0.decide(&req, &mut env, status, headers.as_slice())
        })
    }
}

/// Builds a [`PluginObject`] from one plugin value, one role at a time.
pub struct ObjectBuilder<T> {
    plugin: Arc<T>,
    object: PluginObject,
}

impl<T: Plugin> ObjectBuilder<T> {
    /// Starts with no roles.
    pub fn new(plugin: T) -> Self {
        ObjectBuilder {
            plugin: Arc::new(plugin),
            object: PluginObject {
                identifier: ROption::RNone,
                authenticator: ROption::RNone,
                challenger: ROption::RNone,
                mdprovider: ROption::RNone,
                classifier: ROption::RNone,
                decider: ROption::RNone,
                extensions: RVec::new(),
                metadata: Map::new(),
            },
        }
    }

    fn adapter(&self) -> Adapter<T> {
        Adapter(self.plugin.clone())
    }

    /// The plugin is an identifier.
    pub fn identifier(&mut self)
    where
        T: Identifier,
    {
        self.object.identifier =
            ROption::RSome(IdentifierAbi_TO::from_value(self.adapter(), TD_Opaque));
    }

    /// The plugin is an authenticator.
    pub fn authenticator(&mut self)
    where
        T: Authenticator,
    {
        self.object.authenticator =
            ROption::RSome(AuthenticatorAbi_TO::from_value(self.adapter(), TD_Opaque));
    }

    /// The plugin is a challenger.
    pub fn challenger(&mut self)
    where
        T: Challenger,
    {
        self.object.challenger =
            ROption::RSome(ChallengerAbi_TO::from_value(self.adapter(), TD_Opaque));
    }

    /// The plugin is a metadata provider.
    pub fn mdprovider(&mut self)
    where
        T: MetadataProvider,
    {
        self.object.mdprovider = ROption::RSome(MetadataProviderAbi_TO::from_value(
            self.adapter(),
            TD_Opaque,
        ));
    }

    /// The plugin is a request classifier.
    pub fn classifier(&mut self)
    where
        T: RequestClassifier,
    {
        self.object.classifier = ROption::RSome(RequestClassifierAbi_TO::from_value(
            self.adapter(),
            TD_Opaque,
        ));
    }

    /// The plugin is a challenge decider.
    pub fn decider(&mut self)
    where
        T: ChallengeDecider,
    {
        self.object.decider = ROption::RSome(ChallengeDeciderAbi_TO::from_value(
            self.adapter(),
            TD_Opaque,
        ));
    }

    /// The plugin is an authorizer (a role added after 1.0, carried as an extension).
    pub fn authorizer(&mut self)
    where
        T: crate::authorize::Authorizer,
    {
        let obj: crate::authorize::AuthorizerObj =
            crate::authorize::AuthorizerAbi_TO::from_value(self.adapter(), TD_Opaque);
        self.extension(Extension::new(crate::authorize::AUTHORIZER_EXTENSION, obj));
    }

    /// Adds a role or feature beyond 1.0 under `name` (the host checks its layout).
    pub fn extension(&mut self, extension: Extension) {
        self.object.extensions.push(extension);
    }

    /// The finished object, carrying `metadata`.
    pub fn finish(mut self, metadata: Map) -> PluginObjectRef {
        self.object.metadata = metadata;
        RArc::new(self.object)
    }
}

/// Parses `T::Options` from the context, builds `T` and lets `roles` register its roles.
pub fn build<T: Plugin>(
    ctx: FactoryContextRef<'_>,
    roles_mask: u32,
    roles: impl FnOnce(&mut ObjectBuilder<T>),
) -> Result<PluginObjectRef, FactoryError> {
    let ctx = FactoryContext::from_abi(ctx);
    let options: T::Options = crate::options::from_options(ctx.plugin_id(), ctx.raw_options())
        .map_err(|e| FactoryError {
            message: e.message,
            option: e.option,
        })?;
    let plugin = T::new(options, &ctx).map_err(|e| {
        let message = if e.0.starts_with("[plugin:") {
            e.0
        } else {
            format!("[plugin:{}]: {}", ctx.plugin_id(), e.0)
        };
        FactoryError {
            message,
            option: None,
        }
    })?;
    let mut metadata = metadata_map::<T>(roles_mask);
    metadata.insert("downstream_headers", plugin.downstream_headers());
    let mut builder = ObjectBuilder::new(plugin);
    roles(&mut builder);
    Ok(builder.finish(metadata))
}

/// A factory failure: the message, and the option at fault when there is one.
#[derive(Debug)]
pub struct FactoryError {
    /// What went wrong, naming the section.
    pub message: String,
    /// The option at fault.
    pub option: Option<String>,
}

impl From<PluginError> for FactoryError {
    fn from(e: PluginError) -> Self {
        FactoryError {
            message: e.0,
            option: None,
        }
    }
}

impl FactoryError {
    /// The ABI form: a map with `message` and, when known, `option`.
    pub fn into_map(self) -> Map {
        let mut map = Map::new();
        map.insert("message", self.message);
        if let Some(option) = self.option {
            map.insert("option", option);
        }
        map
    }
}

/// Role bits for the metadata record, by the names `export_plugin!` takes.
#[allow(non_upper_case_globals, missing_docs)]
pub mod role_bits {
    pub const identifier: u32 = 1;
    pub const authenticator: u32 = 2;
    pub const challenger: u32 = 4;
    pub const mdprovider: u32 = 8;
    pub const classifier: u32 = 16;
    pub const decider: u32 = 32;
    pub const authorizer: u32 = 64;
}

const ROLE_NAMES: [(u32, &str); 7] = [
    (role_bits::identifier, "identifier"),
    (role_bits::authenticator, "authenticator"),
    (role_bits::challenger, "challenger"),
    (role_bits::mdprovider, "mdprovider"),
    (role_bits::classifier, "classifier"),
    (role_bits::decider, "decider"),
    (role_bits::authorizer, "authorizer"),
];

/// The metadata record of plugin type `T` playing the roles in `roles_mask`.
pub fn metadata_map<T: Plugin>(roles_mask: u32) -> Map {
    let mut map = Map::new();
    map.insert("sdk_version", env!("CARGO_PKG_VERSION"));
    map.insert("api_level", i64::from(crate::abi::HOST_API_LEVEL));
    map.insert("summary", T::SUMMARY);
    let roles: Vec<&str> = ROLE_NAMES
        .iter()
        .filter(|(bit, _)| roles_mask & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    map.insert("roles", roles);
    map.insert("does_io", T::DOES_IO);
    map.insert(
        "asks_before_blocking",
        T::DOES_IO && T::ASKS_BEFORE_BLOCKING,
    );
    map.insert("downstream_headers", T::DOWNSTREAM_HEADERS.to_vec());
    map.insert("requires", T::REQUIRES.to_vec());
    map.insert(
        "panic",
        if cfg!(panic = "unwind") {
            "unwind"
        } else {
            "abort"
        },
    );
    map
}

/// The `extern "C"` metadata function of [`FactoryInfo`] for plugin type `T`.
pub extern "C" fn metadata<T: Plugin, const ROLES: u32>() -> Map {
    catch_unwind(|| metadata_map::<T>(ROLES)).unwrap_or_default()
}

thread_local! {
    static IN_GUARD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs (once, in this library's copy of std) a panic hook that stays silent for panics
/// [`guard`] catches: the host logs those, escaped and without a backtrace. Panics elsewhere
/// (a thread the plugin spawned) still reach the default hook.
pub fn quiet_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_GUARD.with(|g| g.get()) {
                default(info);
            }
        }));
    });
}

/// Runs a factory, turning its error and any panic into the ABI's error map.
pub fn guard_factory(
    f: impl FnOnce() -> Result<PluginObjectRef, FactoryError>,
) -> RResult<PluginObjectRef, Map> {
    let outer = IN_GUARD.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_GUARD.with(|g| g.set(outer));
    match result {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(e.into_map()),
        Err(payload) => RResult::RErr(
            FactoryError {
                message: format!("plugin panicked: {}", panic_message(payload.as_ref())),
                option: None,
            }
            .into_map(),
        ),
    }
}

/// The error for a factory name the library does not offer.
pub fn unknown_factory(name: &str, factories: &[FactoryInfo]) -> PluginError {
    let known: Vec<&str> = factories.iter().map(|f| f.name.as_str()).collect();
    PluginError(format!(
        "unknown factory `{name}`; this library provides: {}",
        known.join(", ")
    ))
}

/// Builds the root module value (leaked once per process by the caller's `OnceLock`).
pub fn module(
    factories: &'static [FactoryInfo],
    make: extern "C" fn(FactoryContextRef<'_>) -> RResult<PluginObjectRef, Map>,
) -> PluginModuleRef {
    PluginModule {
        factories: RSlice::from_slice(factories),
        make,
    }
    .leak_into_prefix()
}

/// The header abi_stable looks for in a plugin library.
///
/// `CheckTypeLayout::Yes` embeds the layout of every type reachable from [`PluginModule`], so
/// the host refuses a library built against a different plugin-api instead of crashing on it.
#[allow(unsafe_code)]
pub const fn lib_header(constructor: extern "C" fn() -> RootModuleResult) -> LibHeader {
    // SAFETY: `constructor` is generated by `export_plugin!` and returns the prefix reference
    // of a `PluginModule`, which is exactly what `from_constructor::<PluginModuleRef>` needs.
    unsafe { LibHeader::from_constructor::<PluginModuleRef>(constructor, CheckTypeLayout::Yes) }
}

/// Builds a [`PluginModuleRef`] for the listed factories, without exporting it.
///
/// [`export_plugin!`] uses this; call it directly to link plugins statically (tests, benches).
#[macro_export]
macro_rules! plugin_module {
    ($($name:literal => $ty:ty : [$($role:ident),* $(,)?]),+ $(,)?) => {{
        static __REWHO_FACTORIES: &[$crate::abi::FactoryInfo] = &[$(
            $crate::abi::FactoryInfo {
                name: $crate::__private::RStr::from_str($name),
                metadata: $crate::export::metadata::<
                    $ty,
                    { 0 $(| $crate::export::role_bits::$role)* },
                >,
            }
        ),+];
        extern "C" fn __rewho_make(
            ctx: $crate::abi::FactoryContextRef<'_>,
        ) -> $crate::__private::RResult<$crate::abi::PluginObjectRef, $crate::Map> {
            $crate::export::guard_factory(|| {
                let __factory = ::std::string::String::from(ctx.factory().as_str());
                $(
                    if __factory == $name {
                        return $crate::export::build::<$ty>(
                            ctx,
                            0 $(| $crate::export::role_bits::$role)*,
                            |__b| { $( __b.$role(); )* },
                        );
                    }
                )+
                Err($crate::export::unknown_factory(&__factory, __REWHO_FACTORIES).into())
            })
        }
        static __REWHO_MODULE: ::std::sync::OnceLock<$crate::abi::PluginModuleRef> =
            ::std::sync::OnceLock::new();
        *__REWHO_MODULE.get_or_init(|| $crate::export::module(__REWHO_FACTORIES, __rewho_make))
    }};
}

/// Exports plugin factories from a `cdylib`: the one macro a plugin library calls.
///
/// ```ignore
/// rewho_plugin_api::export_plugin! {
///     "basicauth" => BasicAuth: [identifier, challenger],
/// }
/// ```
/// Each entry names a factory (the first is the default for `use = basicauth`), the type that
/// implements [`Plugin`](crate::Plugin), and the roles it plays: `identifier`,
/// `authenticator`, `challenger`, `mdprovider`, `classifier`, `decider`. A role you list must be
/// implemented, or the library does not compile.
///
/// # Panics
/// A plugin must be built with `panic = "unwind"` (the default): the SDK catches every panic
/// at the boundary and the host logs it as that call's failure. With `panic = "abort"` the
/// first panic would kill the host, so this macro refuses to compile.
///
/// It also defines `pub fn rewho_plugin_module()`, the library's root module.
#[macro_export]
macro_rules! export_plugin {
    ($($tt:tt)+) => {
        #[cfg(panic = "abort")]
        ::core::compile_error!(
            "rewho plugins must be built with panic = \"unwind\": with panic = \"abort\" a \
             panic in the plugin would kill the host. Remove `panic = \"abort\"` from the \
             [profile] sections that build this plugin."
        );

        /// The root module of this plugin library.
        pub fn rewho_plugin_module() -> $crate::abi::PluginModuleRef {
            $crate::plugin_module!($($tt)+)
        }

        /// The header the rewho host (through abi_stable) looks up in this library.
        #[no_mangle]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::__private::LibHeader = {
            extern "C" fn __rewho_root_module() -> $crate::__private::RootModuleResult {
                $crate::export::quiet_caught_panics();
                $crate::__private::__call_root_module_loader(rewho_plugin_module)
            }
            $crate::export::lib_header(__rewho_root_module)
        };
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn exported_symbol_name_matches_abi_stable() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }
}
