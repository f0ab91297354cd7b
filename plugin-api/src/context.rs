//! What a plugin gets from the host: its build context, the [`Host`] it keeps, and handles to
//! other plugins.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use abi_stable::std_types::{RArc, ROption, RResult, RSlice, RString};

use crate::abi::{Extension, FactoryContextRef, HostObj, LogLevel, PluginObjectRef};
use crate::authorize::{AuthorizerObj, AUTHORIZER_EXTENSION};
use crate::request::{Environ, HeaderField, Request, Response};
use crate::roles::PluginError;
use crate::value::{Identity, Key, Value};

/// What a factory receives: the section id, its options and the host.
pub struct FactoryContext<'a> {
    abi: FactoryContextRef<'a>,
}

impl<'a> FactoryContext<'a> {
    /// Wraps the host's context object (used by [`export_plugin!`](crate::export_plugin)).
    pub fn from_abi(abi: FactoryContextRef<'a>) -> Self {
        FactoryContext { abi }
    }

    /// The section id: `auth_tkt` for `[plugin:auth_tkt]`.
    pub fn plugin_id(&self) -> &str {
        self.abi.plugin_id().as_str()
    }

    /// The factory name this library is asked for.
    pub fn factory(&self) -> &str {
        self.abi.factory().as_str()
    }

    /// The config file's folder; resolve relative file options against it.
    pub fn config_dir(&self) -> &Path {
        Path::new(self.abi.config_dir().as_str())
    }

    /// Resolves `path` against [`config_dir`](Self::config_dir) unless it is absolute.
    pub fn resolve_path(&self, path: &str) -> std::path::PathBuf {
        self.config_dir().join(path)
    }

    /// The raw `(key, value)` options of the section, `use` excluded.
    pub fn raw_options(&self) -> Vec<(&str, &str)> {
        self.abi
            .options()
            .into_iter()
            .map(|o| (o.key.as_str(), o.value.as_str()))
            .collect()
    }

    /// The host context, to keep for logging, the clock and plugin look-ups at request time.
    pub fn host(&self) -> Host {
        Host {
            inner: self.abi.host(),
        }
    }
}

/// The host as seen by a plugin: look up other plugins, log, read the clock. Cheap to clone.
#[derive(Clone)]
pub struct Host {
    inner: RArc<HostObj>,
}

impl Host {
    /// Wraps a host object (the host side builds these).
    pub fn from_obj(inner: RArc<HostObj>) -> Self {
        Host { inner }
    }

    /// Another plugin, built from its `[plugin:NAME]` section before this one (the host builds
    /// the sections a plugin names in `<role>_name` options such as `authenticator_name` first).
    pub fn plugin(&self, name: &str) -> Option<PluginHandle> {
        self.inner
            .plugin(name.into())
            .into_option()
            .map(PluginHandle::new)
    }

    /// Logs `message` at `level`, tagged with this plugin's id. Never log secrets.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, message.into());
    }

    /// Logs at debug level.
    pub fn debug(&self, message: &str) {
        self.log(LogLevel::Debug, message);
    }

    /// Logs at info level.
    pub fn info(&self, message: &str) {
        self.log(LogLevel::Info, message);
    }

    /// Logs at warn level.
    pub fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message);
    }

    /// Logs at error level.
    pub fn error(&self, message: &str) {
        self.log(LogLevel::Error, message);
    }

    /// The host's clock; use it instead of `SystemTime::now()` so tests can fix time.
    pub fn now(&self) -> SystemTime {
        let t = self.inner.now();
        if t.secs >= 0 {
            UNIX_EPOCH + Duration::new(t.secs as u64, t.nanos)
        } else {
            UNIX_EPOCH - Duration::from_secs(t.secs.unsigned_abs())
        }
    }

    /// Whether this call may block now (file or network I/O, a slow hash). `false` when an
    /// async edge is trying the chain on a reactor thread: return without blocking (an error
    /// is fine; nothing of this attempt is kept) and the host runs the request again on a
    /// blocking thread. Only plugins with [`Plugin::ASKS_BEFORE_BLOCKING`] are run that way;
    /// everywhere else this is `true`.
    ///
    /// [`Plugin::ASKS_BEFORE_BLOCKING`]: crate::Plugin::ASKS_BEFORE_BLOCKING
    pub fn may_block(&self) -> bool {
        self.inner.may_block()
    }

    /// The host's API level: 1 for a host of ABI 1.0 as released. See
    /// [`HOST_API_LEVEL`](crate::abi::HOST_API_LEVEL).
    pub fn api_level(&self) -> u32 {
        self.inner.api_level()
    }

    /// A host capability added after 1.0, checked against the layout this plugin was compiled
    /// with. `Ok(None)`: this host does not offer it (degrade, or refuse with its name).
    pub fn capability<T: abi_stable::StableAbi + Clone>(
        &self,
        name: &str,
    ) -> Result<Option<T>, crate::abi::ExtensionMismatch> {
        match self.inner.capability(name.into()).into_option() {
            None => Ok(None),
            Some(ext) => Ok(Some(ext.get::<T>()?.clone())),
        }
    }

    /// The host's clock in whole seconds since the epoch.
    pub fn now_secs(&self) -> i64 {
        self.inner.now().secs
    }
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Host")
    }
}

fn lift<T>(r: RResult<T, RString>) -> Result<T, PluginError> {
    r.into_result().map_err(|e| PluginError(e.into_string()))
}

fn missing(role: &str) -> PluginError {
    PluginError(format!("plugin does not implement {role}"))
}

/// A built plugin, callable through its roles: what the host's chains hold, and what a
/// wrapper plugin (such as `memcached`) gets for the plugin it wraps.
#[derive(Clone)]
pub struct PluginHandle {
    obj: PluginObjectRef,
    /// Index of a layout-checked `authorizer` extension.
    authorizer: Option<usize>,
}

impl PluginHandle {
    /// Wraps a plugin object.
    pub fn new(obj: PluginObjectRef) -> Self {
        let authorizer = obj.extensions.iter().position(|e| {
            e.name.as_str() == AUTHORIZER_EXTENSION && e.get::<AuthorizerObj>().is_ok()
        });
        PluginHandle { obj, authorizer }
    }

    /// The underlying ABI object.
    pub fn object(&self) -> &PluginObjectRef {
        &self.obj
    }

    /// `true` when the plugin may block on I/O (metadata key `does_io`).
    pub fn does_io(&self) -> bool {
        self.metadata().get("does_io").and_then(Value::as_bool) == Some(true)
    }

    /// The plugin's metadata record (see docs/PLUGINS.md): keys a host does not know are
    /// ignored, missing ones take their 1.0 defaults.
    pub fn metadata(&self) -> &crate::value::Map {
        &self.obj.metadata
    }

    /// The authorizer role (an extension added after 1.0), when the plugin plays it and its
    /// layout matches this host's. Checked once, when the handle is made.
    pub fn is_authorizer(&self) -> bool {
        self.authorizer.is_some()
    }

    /// Calls [`Authorizer::authorize`](crate::Authorizer::authorize).
    pub fn authorize(
        &self,
        req: &Request<'_>,
        env: &mut Environ<'_>,
        identity: Option<&Identity>,
    ) -> Result<crate::Authorization, PluginError> {
        let Some(index) = self.authorizer else {
            return Err(missing("Authorizer"));
        };
        // SAFETY: `new` checked this extension's layout against `AuthorizerObj`'s.
        let authorizer = unsafe { self.obj.extensions[index].get_unchecked::<AuthorizerObj>() };
        lift(authorizer.authorize(req.abi(), env.abi(), identity.into()))
    }

    /// A role or feature the plugin offers beyond 1.0, by name.
    pub fn extension(&self, name: &str) -> Option<&Extension> {
        self.obj.extensions.iter().find(|e| e.name.as_str() == name)
    }

    /// Whether it plays each role.
    pub fn is_identifier(&self) -> bool {
        self.obj.identifier.is_some()
    }
    /// Whether it authenticates.
    pub fn is_authenticator(&self) -> bool {
        self.obj.authenticator.is_some()
    }
    /// Whether it challenges.
    pub fn is_challenger(&self) -> bool {
        self.obj.challenger.is_some()
    }
    /// Whether it adds metadata.
    pub fn is_mdprovider(&self) -> bool {
        self.obj.mdprovider.is_some()
    }
    /// Whether it classifies requests.
    pub fn is_classifier(&self) -> bool {
        self.obj.classifier.is_some()
    }
    /// Whether it decides on challenges.
    pub fn is_decider(&self) -> bool {
        self.obj.decider.is_some()
    }

    /// The names of the roles it plays, for diagnostics.
    pub fn role_names(&self) -> Vec<&'static str> {
        let o = &self.obj;
        [
            (o.identifier.is_some(), "identifier"),
            (o.authenticator.is_some(), "authenticator"),
            (o.challenger.is_some(), "challenger"),
            (o.mdprovider.is_some(), "mdprovider"),
            (o.classifier.is_some(), "classifier"),
            (o.decider.is_some(), "decider"),
            (self.authorizer.is_some(), "authorizer"),
        ]
        .into_iter()
        .filter_map(|(has, name)| has.then_some(name))
        .collect()
    }

    /// Calls [`Identifier::identify`](crate::Identifier::identify).
    pub fn identify(
        &self,
        req: &Request<'_>,
        env: &mut Environ<'_>,
    ) -> Result<Option<Identity>, PluginError> {
        match &self.obj.identifier {
            ROption::RSome(i) => lift(i.identify(req.abi(), env.abi())).map(ROption::into_option),
            ROption::RNone => Err(missing("Identifier")),
        }
    }

    /// Calls [`Identifier::remember`](crate::Identifier::remember).
    pub fn remember(
        &self,
        req: &Request<'_>,
        env: &mut Environ<'_>,
        identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        match &self.obj.identifier {
            ROption::RSome(i) => {
                lift(i.remember(req.abi(), env.abi(), identity)).map(|v| v.into_vec())
            }
            ROption::RNone => Err(missing("Identifier")),
        }
    }

    /// Calls [`Identifier::forget`](crate::Identifier::forget).
    pub fn forget(
        &self,
        req: &Request<'_>,
        env: &mut Environ<'_>,
        identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        match &self.obj.identifier {
            ROption::RSome(i) => {
                lift(i.forget(req.abi(), env.abi(), identity)).map(|v| v.into_vec())
            }
            ROption::RNone => Err(missing("Identifier")),
        }
    }

    /// Calls [`Authenticator::authenticate`](crate::Authenticator::authenticate).
    pub fn authenticate(
        &self,
        req: &Request<'_>,
        env: &mut Environ<'_>,
        identity: &mut Identity,
    ) -> Result<Option<Value>, PluginError> {
        match &self.obj.authenticator {
            ROption::RSome(a) => {
                lift(a.authenticate(req.abi(), env.abi(), identity)).map(ROption::into_option)
            }
            ROption::RNone => Err(missing("Authenticator")),
        }
    }

    /// Calls [`Challenger::challenge`](crate::Challenger::challenge).
    pub fn challenge(
        &self,
        req: &Request<'_>,
        env: &mut Environ<'_>,
        status: u16,
        app_headers: &[HeaderField],
        forget_headers: &[HeaderField],
    ) -> Result<Option<Response>, PluginError> {
        match &self.obj.challenger {
            ROption::RSome(c) => lift(c.challenge(
                req.abi(),
                env.abi(),
                status,
                RSlice::from_slice(app_headers),
                RSlice::from_slice(forget_headers),
            ))
            .map(ROption::into_option),
            ROption::RNone => Err(missing("Challenger")),
        }
    }

    /// Calls [`MetadataProvider::add_metadata`](crate::MetadataProvider::add_metadata).
    pub fn add_metadata(
        &self,
        req: &Request<'_>,
        env: &mut Environ<'_>,
        identity: &mut Identity,
    ) -> Result<(), PluginError> {
        match &self.obj.mdprovider {
            ROption::RSome(m) => lift(m.add_metadata(req.abi(), env.abi(), identity)),
            ROption::RNone => Err(missing("MetadataProvider")),
        }
    }

    /// Calls [`RequestClassifier::classify`](crate::RequestClassifier::classify).
    pub fn classify(&self, req: &Request<'_>, env: &mut Environ<'_>) -> Result<Key, PluginError> {
        match &self.obj.classifier {
            ROption::RSome(c) => lift(c.classify(req.abi(), env.abi())),
            ROption::RNone => Err(missing("RequestClassifier")),
        }
    }

    /// Calls [`ChallengeDecider::decide`](crate::ChallengeDecider::decide).
    pub fn decide(
        &self,
        req: &Request<'_>,
        env: &mut Environ<'_>,
        status: u16,
        headers: &[HeaderField],
    ) -> Result<bool, PluginError> {
        match &self.obj.decider {
            ROption::RSome(d) => {
                lift(d.decide(req.abi(), env.abi(), status, RSlice::from_slice(headers)))
            }
            ROption::RNone => Err(missing("ChallengeDecider")),
        }
    }
}

impl std::fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHandle")
            .field("roles", &self.role_names())
            .finish()
    }
}
