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
    match catch_unwind(AssertUnwindSafe(f)) {
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

impl<T: Identifier> IdentifierAbi for Adapter<T> {
    fn identify(&self, req: &Request<'_>, env: &mut Environ) -> RResult<ROption<Map>, AbiError> {
        guard(|| self.0.identify(req, env).map(ROption::from))
    }
    fn remember(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &Map,
    ) -> RResult<RVec<HeaderField>, AbiError> {
        guard(|| self.0.remember(req, env, identity).map(RVec::from))
    }
    fn forget(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &Map,
    ) -> RResult<RVec<HeaderField>, AbiError> {
        guard(|| self.0.forget(req, env, identity).map(RVec::from))
    }
}

impl<T: Authenticator> AuthenticatorAbi for Adapter<T> {
    fn authenticate(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &mut Map,
    ) -> RResult<ROption<Value>, AbiError> {
        guard(|| self.0.authenticate(req, env, identity).map(ROption::from))
    }
}

impl<T: Challenger> ChallengerAbi for Adapter<T> {
    fn challenge(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        status: u16,
        app_headers: RSlice<'_, HeaderField>,
        forget_headers: RSlice<'_, HeaderField>,
    ) -> RResult<ROption<Response>, AbiError> {
        guard(|| {
            self.0
                .challenge(
                    req,
                    env,
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
        req: &Request<'_>,
        env: &mut Environ,
        identity: &mut Map,
    ) -> RResult<(), AbiError> {
        guard(|| self.0.add_metadata(req, env, identity))
    }
}

impl<T: RequestClassifier> RequestClassifierAbi for Adapter<T> {
    fn classify(&self, req: &Request<'_>, env: &mut Environ) -> RResult<Key, AbiError> {
        guard(|| self.0.classify(req, env))
    }
}

impl<T: ChallengeDecider> ChallengeDeciderAbi for Adapter<T> {
    fn decide(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        status: u16,
        headers: RSlice<'_, HeaderField>,
    ) -> RResult<bool, AbiError> {
        guard(|| self.0.decide(req, env, status, headers.as_slice()))
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
                does_io: T::DOES_IO,
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

    /// The finished object.
    pub fn finish(self) -> PluginObjectRef {
        RArc::new(self.object)
    }
}

/// Parses `T::Options` from the context, builds `T` and lets `roles` register its roles.
pub fn build<T: Plugin>(
    ctx: &FactoryContextAbi<'_>,
    roles: impl FnOnce(&mut ObjectBuilder<T>),
) -> Result<PluginObjectRef, PluginError> {
    let ctx = FactoryContext::from_abi(ctx);
    let options: T::Options = crate::options::from_options(ctx.plugin_id(), ctx.raw_options())?;
    let plugin = T::new(options, &ctx).map_err(|e| {
        if e.0.starts_with("[plugin:") {
            e
        } else {
            PluginError(format!("[plugin:{}]: {}", ctx.plugin_id(), e.0))
        }
    })?;
    if T::DOES_IO && T::ASKS_BEFORE_BLOCKING {
        ctx.abi.host.asks_before_blocking();
    }
    let mut builder = ObjectBuilder::new(plugin);
    roles(&mut builder);
    Ok(builder.finish())
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
    make: extern "C" fn(&FactoryContextAbi<'_>) -> RResult<PluginObjectRef, AbiError>,
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
                summary: $crate::__private::RStr::from_str(<$ty as $crate::Plugin>::SUMMARY),
            }
        ),+];
        extern "C" fn __rewho_make(
            ctx: &$crate::abi::FactoryContextAbi<'_>,
        ) -> $crate::__private::RResult<$crate::abi::PluginObjectRef, $crate::abi::AbiError> {
            $crate::export::guard(|| {
                let __factory = ctx.factory.as_str();
                $(
                    if __factory == $name {
                        return $crate::export::build::<$ty>(ctx, |__b| { $( __b.$role(); )* });
                    }
                )+
                Err($crate::export::unknown_factory(__factory, __REWHO_FACTORIES))
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
/// It also defines `pub fn rewho_plugin_module()`, the library's root module.
#[macro_export]
macro_rules! export_plugin {
    ($($tt:tt)+) => {
        /// The root module of this plugin library.
        pub fn rewho_plugin_module() -> $crate::abi::PluginModuleRef {
            $crate::plugin_module!($($tt)+)
        }

        /// The header the rewho host (through abi_stable) looks up in this library.
        #[no_mangle]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::__private::LibHeader = {
            extern "C" fn __rewho_root_module() -> $crate::__private::RootModuleResult {
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
