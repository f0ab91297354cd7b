//! `ApiFactory` (immutable, shared by all requests) and `Api` (one per request): repoze.who's
//! `APIFactory`/`API`, with the same ranking, classification and challenge rules.
//!
//! A request flows: classify → identify (every matching identifier) → authenticate (every
//! matching authenticator × every identity, ranked by authenticator order, then identity
//! order) → add metadata to the winner → the application → decide → challenge or remember.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rewho_plugin_api::state::EnvironState;
use rewho_plugin_api::{
    Decision, HeaderField, Identity, Key, PluginError, PluginHandle, Request, Response, Value,
    AUTHENTICATOR_KEY, IDENTIFIER_KEY, USERID_KEY,
};

use crate::builtins::{builtin_library, BUILTIN_LIBRARY};
#[cfg(feature = "server")]
use crate::call_timeout::CallWatch;
use crate::call_timeout::{self, Deadlines, Tripped, DEFAULT_CALL_TIMEOUT};
use crate::config::{Config, ConfigError};
use crate::loader::{PluginLibrary, PluginPath};
use crate::registry::{
    system_clock, BuildError, BuiltPlugin, Clock, PluginRegistry, PluginSpec, RegistryBuilder,
};
use crate::request::OwnedRequest;

/// The role a chain holds; used in messages and to check that plugins play it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `[identifiers]`.
    Identifier,
    /// `[authenticators]`.
    Authenticator,
    /// `[challengers]`.
    Challenger,
    /// `[mdproviders]`.
    MetadataProvider,
    /// `[general] request_classifier`.
    RequestClassifier,
    /// `[general] challenge_decider`.
    ChallengeDecider,
    /// `[authorizers]`.
    Authorizer,
}

impl Role {
    fn noun(self) -> &'static str {
        match self {
            Role::Identifier => "an identifier",
            Role::Authenticator => "an authenticator",
            Role::Challenger => "a challenger",
            Role::MetadataProvider => "a metadata provider",
            Role::RequestClassifier => "a request classifier",
            Role::ChallengeDecider => "a challenge decider",
            Role::Authorizer => "an authorizer",
        }
    }

    fn played_by(self, h: &PluginHandle) -> bool {
        match self {
            Role::Identifier => h.is_identifier(),
            Role::Authenticator => h.is_authenticator(),
            Role::Challenger => h.is_challenger(),
            Role::MetadataProvider => h.is_mdprovider(),
            Role::RequestClassifier => h.is_classifier(),
            Role::ChallengeDecider => h.is_decider(),
            Role::Authorizer => h.is_authorizer(),
        }
    }

    /// The plugin call this role makes: `identify`, `authenticate`, `challenge`,
    /// `add_metadata`, `classify`, `decide` (metrics and logs use it).
    pub fn label(self) -> &'static str {
        match self {
            Role::Identifier => "identify",
            Role::Authenticator => "authenticate",
            Role::Challenger => "challenge",
            Role::MetadataProvider => "add_metadata",
            Role::RequestClassifier => "classify",
            Role::ChallengeDecider => "decide",
            Role::Authorizer => "authorize",
        }
    }
}

/// One entry of a chain: a plugin and the classification it is limited to.
#[derive(Debug, Clone)]
pub struct ChainLink {
    /// The name the chain used (a plugin id, or a built-in name).
    pub name: String,
    /// `name;classifier`: only requests classified so use this plugin. `None` = all.
    pub classifier: Option<String>,
    /// The plugin.
    pub handle: PluginHandle,
    /// Where it came from, for diagnostics (library path).
    pub library: PathBuf,
    /// Its factory promised to ask before blocking
    /// ([`Plugin::ASKS_BEFORE_BLOCKING`](rewho_plugin_api::Plugin::ASKS_BEFORE_BLOCKING)).
    pub asks_before_blocking: bool,
}

impl ChainLink {
    fn matches(&self, classification: &str) -> bool {
        self.classifier
            .as_deref()
            .is_none_or(|c| c == classification)
    }
}

/// An entry as written: `name` or `name;classifier`, and where.
#[derive(Debug, Clone)]
pub struct EntrySpec {
    /// Plugin id or built-in/dotted name.
    pub name: String,
    /// Optional classifier.
    pub classifier: Option<String>,
    /// `who.ini:14: [identifiers]` or empty.
    pub origin: String,
}

impl EntrySpec {
    /// Parses `name` / `name;classifier` as given in code.
    pub fn parse(entry: &str) -> EntrySpec {
        let (name, classifier) = match entry.split_once(';') {
            Some((n, c)) => (n.to_owned(), Some(c.to_owned())),
            None => (entry.to_owned(), None),
        };
        EntrySpec {
            name,
            classifier,
            origin: String::new(),
        }
    }
}

/// Why an [`ApiFactory`] could not be built: every problem found, each with its location.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FactoryError {
    /// The config file could not be read or parsed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Plugins or chains are wrong; all problems are listed.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Setup(Vec<SetupError>),
}

/// One problem found while building plugins and chains.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A plugin section failed to build.
    #[error(transparent)]
    Plugin(#[from] BuildError),
    /// A chain entry is wrong (unknown name, wrong role).
    #[error("{at}: {message}")]
    Chain {
        /// `who.ini:14: [identifiers]`.
        at: String,
        /// What is wrong.
        message: String,
    },
}

/// Builds an [`ApiFactory`] from a config file or in code.
pub struct ApiFactoryBuilder {
    source: Option<PathBuf>,
    config_dir: PathBuf,
    plugin_path: Vec<PathBuf>,
    clock: Clock,
    specs: Vec<PluginSpec>,
    identifiers: Vec<EntrySpec>,
    authenticators: Vec<EntrySpec>,
    challengers: Vec<EntrySpec>,
    mdproviders: Vec<EntrySpec>,
    authorizers: Option<Vec<EntrySpec>>,
    request_classifier: Option<EntrySpec>,
    challenge_decider: Option<EntrySpec>,
    remote_user_key: String,
    trusted_proxies: Vec<String>,
    /// `[general]` options the edges read (`real_ip_header`, `public_url`, …).
    general_options: Vec<(String, String)>,
    statics: Vec<(String, PluginLibrary)>,
    observer: Option<Arc<dyn CallObserver>>,
    /// `[general] call_timeout`, or why it is wrong (reported by `build`).
    call_timeout: Result<Option<Duration>, SetupError>,
}

/// Told about every plugin call an [`Api`] makes, for metrics (see
/// [`ApiFactoryBuilder::observer`]). Called on the request's thread: keep it cheap.
pub trait CallObserver: Send + Sync {
    /// `plugin` (its chain name) was called in `role` (`identify`, `remember` and `forget`
    /// all count as [`Role::Identifier`]); the call took `elapsed`, and failed when `!ok`.
    fn plugin_call(&self, plugin: &str, role: Role, elapsed: Duration, ok: bool);

    /// An async edge tried a request inline ([`ApiFactory::inline_first`]); `kept` is `false`
    /// when a plugin asked to block and the request moved to a blocking thread.
    fn inline_attempt(&self, kept: bool) {
        let _ = kept;
    }
}

impl Default for ApiFactoryBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiFactoryBuilder {
    /// An empty builder: no plugins, repoze.who's default classifier and decider.
    pub fn new() -> Self {
        ApiFactoryBuilder {
            source: None,
            config_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            plugin_path: Vec::new(),
            clock: system_clock(),
            specs: Vec::new(),
            identifiers: Vec::new(),
            authenticators: Vec::new(),
            challengers: Vec::new(),
            mdproviders: Vec::new(),
            authorizers: None,
            request_classifier: None,
            challenge_decider: None,
            remote_user_key: "REMOTE_USER".to_owned(),
            trusted_proxies: Vec::new(),
            general_options: Vec::new(),
            statics: Vec::new(),
            observer: None,
            call_timeout: Ok(Some(DEFAULT_CALL_TIMEOUT)),
        }
    }

    /// A builder holding everything a parsed who.ini says.
    pub fn from_config(config: &Config) -> Self {
        let file = config.file.display().to_string();
        let at = |line: usize| format!("{file}:{line}");
        let entries = |section: &str, list: &[crate::config::ChainEntry]| {
            list.iter()
                .map(|e| EntrySpec {
                    name: e.name.clone(),
                    classifier: e.classifier.clone(),
                    origin: format!("{}: [{section}]", at(e.line)),
                })
                .collect::<Vec<_>>()
        };
        let general = |s: &Option<crate::config::Setting>| {
            s.as_ref().map(|s| EntrySpec {
                name: s.value.trim().to_owned(),
                classifier: None,
                origin: format!("{}: [general]", at(s.line)),
            })
        };
        let mut b = ApiFactoryBuilder::new();
        b.source = Some(config.file.clone());
        b.config_dir = config.here.clone();
        b.plugin_path = config.general.plugin_path.clone();
        b.specs = config
            .plugins
            .iter()
            .map(|p| PluginSpec {
                id: p.id.clone(),
                use_: p.use_.value.clone(),
                options: p.options.clone(),
                origin: at(p.line),
                option_origins: p.option_lines.iter().map(|&l| at(l)).collect(),
            })
            .collect();
        b.identifiers = entries("identifiers", &config.identifiers);
        b.authenticators = entries("authenticators", &config.authenticators);
        b.challengers = entries("challengers", &config.challengers);
        b.mdproviders = entries("mdproviders", &config.mdproviders);
        b.authorizers = config
            .authorizers
            .as_ref()
            .map(|a| entries("authorizers", a));
        b.request_classifier = general(&config.general.request_classifier);
        b.challenge_decider = general(&config.general.challenge_decider);
        b.remote_user_key = config.general.remote_user_key.clone();
        b.trusted_proxies = config.general.trusted_proxies.clone();
        b.general_options = config.general.extra.clone();
        if let Some((_, v)) = config
            .general
            .extra
            .iter()
            .find(|(k, _)| k == "call_timeout")
        {
            b.call_timeout =
                call_timeout::parse_call_timeout(v).map_err(|message| SetupError::Chain {
                    at: match config.general.line {
                        Some(l) => format!("{}: [general]", at(l)),
                        None => format!("{file}: [general]"),
                    },
                    message,
                });
        }
        b
    }

    /// Sets `[general] call_timeout`: how long an edge waits for one plugin call of a chain
    /// that does I/O before it answers 503 and skips that plugin while the call stays stuck
    /// (default [`DEFAULT_CALL_TIMEOUT`]; `None`: wait forever). A `call_timeout` option in a
    /// plugin's own options overrides it for that plugin (the host takes that option; the
    /// plugin never sees it).
    pub fn call_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.call_timeout = Ok(timeout);
        self
    }

    /// Sets a `[general]` option the edges read, as the config file would
    /// (`real_ip_header`, `public_url`; see `docs/SERVING.md`).
    pub fn general_option(mut self, key: &str, value: &str) -> Self {
        self.general_options.retain(|(k, _)| k != key);
        self.general_options
            .push((key.to_owned(), value.to_owned()));
        self
    }

    /// Adds a plugin, as a `[plugin:id]` section with `use = use_` and `options` would.
    pub fn plugin(mut self, id: &str, use_: &str, options: &[(&str, &str)]) -> Self {
        self.specs.push(PluginSpec {
            id: id.to_owned(),
            use_: use_.to_owned(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
                .collect(),
            origin: String::new(),
            option_origins: Vec::new(),
        });
        self
    }

    /// Sets `[identifiers] plugins` (`name` or `name;classifier` entries).
    pub fn identifiers(mut self, entries: &[&str]) -> Self {
        self.identifiers = entries.iter().map(|e| EntrySpec::parse(e)).collect();
        self
    }

    /// Sets `[authenticators] plugins`.
    pub fn authenticators(mut self, entries: &[&str]) -> Self {
        self.authenticators = entries.iter().map(|e| EntrySpec::parse(e)).collect();
        self
    }

    /// Sets `[challengers] plugins`.
    pub fn challengers(mut self, entries: &[&str]) -> Self {
        self.challengers = entries.iter().map(|e| EntrySpec::parse(e)).collect();
        self
    }

    /// Sets `[mdproviders] plugins`.
    pub fn mdproviders(mut self, entries: &[&str]) -> Self {
        self.mdproviders = entries.iter().map(|e| EntrySpec::parse(e)).collect();
        self
    }

    /// Sets `[authorizers] plugins`: with it, every request must be allowed by one of them
    /// (none deciding denies).
    pub fn authorizers(mut self, entries: &[&str]) -> Self {
        self.authorizers = Some(entries.iter().map(|e| EntrySpec::parse(e)).collect());
        self
    }

    /// Sets `[general] request_classifier` (a plugin id or built-in/dotted name).
    pub fn request_classifier(mut self, name: &str) -> Self {
        self.request_classifier = Some(EntrySpec::parse(name));
        self
    }

    /// Sets `[general] challenge_decider`.
    pub fn challenge_decider(mut self, name: &str) -> Self {
        self.challenge_decider = Some(EntrySpec::parse(name));
        self
    }

    /// Sets `[general] remote_user_key` (default `REMOTE_USER`).
    pub fn remote_user_key(mut self, key: &str) -> Self {
        self.remote_user_key = key.to_owned();
        self
    }

    /// Folders searched first for short plugin names.
    pub fn plugin_path(mut self, dirs: &[PathBuf]) -> Self {
        self.plugin_path = dirs.to_vec();
        self
    }

    /// The folder relative plugin files and options resolve against.
    pub fn config_dir(mut self, dir: &Path) -> Self {
        self.config_dir = dir.to_owned();
        self
    }

    /// Replaces the clock plugins read (tests move time with it).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Registers a statically linked library under a short name.
    pub fn static_library(mut self, name: &str, library: PluginLibrary) -> Self {
        self.statics.push((name.to_owned(), library));
        self
    }

    /// Reports every plugin call of every [`Api`] of the built factory to `observer`.
    pub fn observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Takes each plugin's own `call_timeout` option out of its options (the host's, not the
    /// plugin's) and parses it.
    fn take_plugin_call_timeouts(
        &mut self,
        errors: &mut Vec<SetupError>,
    ) -> Vec<(String, Option<Duration>)> {
        let mut per_plugin = Vec::new();
        for spec in &mut self.specs {
            let Some(i) = spec.options.iter().position(|(k, _)| k == "call_timeout") else {
                continue;
            };
            let (_, value) = spec.options.remove(i);
            let at = (i < spec.option_origins.len())
                .then(|| spec.option_origins.remove(i))
                .filter(|o| !o.is_empty())
                .unwrap_or_else(|| spec.origin.clone());
            match call_timeout::parse_call_timeout(&value) {
                Ok(d) => per_plugin.push((spec.id.clone(), d)),
                Err(message) => errors.push(SetupError::Chain {
                    at: format!("{at}: [plugin:{}]", spec.id),
                    message,
                }),
            }
        }
        per_plugin
    }

    /// Builds every plugin and chain, collecting every problem.
    pub fn build(mut self) -> Result<ApiFactory, FactoryError> {
        let mut builder = RegistryBuilder::new(
            PluginPath::new(&self.plugin_path),
            self.config_dir.clone(),
            self.clock.clone(),
        );
        for (name, lib) in &self.statics {
            builder.static_library(name, *lib);
        }
        let mut errors: Vec<SetupError> = Vec::new();
        let default = std::mem::replace(&mut self.call_timeout, Ok(None)).unwrap_or_else(|e| {
            errors.push(e);
            None
        });
        let per_plugin = self.take_plugin_call_timeouts(&mut errors);
        let deadlines = Arc::new(Deadlines {
            default,
            per_plugin,
        });
        let registry = match builder.build_all(&self.specs) {
            Ok(r) => r,
            Err(es) => {
                errors.extend(es.into_iter().map(SetupError::Plugin));
                PluginRegistry::default()
            }
        };
        let plugins_ok = errors.is_empty();
        let mut resolver = Resolver {
            registry: &registry,
            builder: &builder,
            specs: &self.specs,
            extra: Vec::new(),
            errors: &mut errors,
        };
        let identifiers = resolver.chain(&self.identifiers, Role::Identifier, plugins_ok);
        let authenticators = resolver.chain(&self.authenticators, Role::Authenticator, plugins_ok);
        let challengers = resolver.chain(&self.challengers, Role::Challenger, plugins_ok);
        let mdproviders = resolver.chain(&self.mdproviders, Role::MetadataProvider, plugins_ok);
        let authorizers = self
            .authorizers
            .as_ref()
            .map(|a| resolver.chain(a, Role::Authorizer, plugins_ok));
        let default_entry = |name: &str| EntrySpec {
            name: name.to_owned(),
            classifier: None,
            origin: String::new(),
        };
        let classifier = resolver.single(
            self.request_classifier
                .clone()
                .unwrap_or_else(|| default_entry("default_request_classifier")),
            Role::RequestClassifier,
            plugins_ok,
        );
        let decider = resolver.single(
            self.challenge_decider
                .clone()
                .unwrap_or_else(|| default_entry("default_challenge_decider")),
            Role::ChallengeDecider,
            plugins_ok,
        );
        if !errors.is_empty() {
            return Err(FactoryError::Setup(errors));
        }
        let (Some(classifier), Some(decider)) = (classifier, decider) else {
            return Err(FactoryError::Setup(vec![SetupError::Chain {
                at: "[general]".into(),
                message: "no request classifier or challenge decider".into(),
            }]));
        };
        let all = identifiers
            .iter()
            .chain(&authenticators)
            .chain(&challengers)
            .chain(&mdproviders)
            .chain(authorizers.iter().flatten())
            .chain([&classifier, &decider]);
        let (mut does_io, mut unannounced_io) = (false, false);
        for l in all {
            does_io |= l.handle.does_io();
            unannounced_io |= l.handle.does_io() && !l.asks_before_blocking;
        }
        let audit = match self
            .general_options
            .iter()
            .find(|(k, _)| k == "audit_log")
            .map(|(_, v)| crate::audit::AuditSink::open(v.trim()))
        {
            None => None,
            Some(Ok(sink)) => Some(Arc::new(sink)),
            Some(Err(e)) => {
                return Err(FactoryError::Setup(vec![SetupError::Chain {
                    at: "[general] audit_log".into(),
                    message: e.to_string(),
                }]))
            }
        };
        Ok(ApiFactory {
            inner: Arc::new(FactoryInner {
                audit,
                identifiers,
                authenticators,
                challengers,
                mdproviders,
                authorizers,
                classifier,
                decider,
                remote_user_key: self.remote_user_key,
                registry,
                source: self.source,
                trusted_proxies: self.trusted_proxies,
                general_options: self.general_options,
                does_io,
                unannounced_io,
                observer: self.observer,
                deadlines,
                tripped: Arc::default(),
            }),
        })
    }
}

/// Turns chain entries into links: plugin ids first, then built-in and dotted names (built
/// with no options, as repoze.who's `_getPlugin` does).
struct Resolver<'a> {
    registry: &'a PluginRegistry,
    builder: &'a RegistryBuilder,
    specs: &'a [PluginSpec],
    extra: Vec<BuiltPlugin>,
    errors: &'a mut Vec<SetupError>,
}

impl Resolver<'_> {
    fn lookup(&mut self, entry: &EntrySpec) -> Result<BuiltPlugin, String> {
        if let Some(p) = self.registry.get(&entry.name) {
            return Ok(p.clone());
        }
        if self.specs.iter().any(|s| s.id == entry.name) {
            // The section exists but failed to build; its own error is reported already.
            return Err(String::new());
        }
        if let Some(p) = self.extra.iter().find(|p| p.id == entry.name) {
            return Ok(p.clone());
        }
        let builtin = builtin_library();
        let use_ = if builtin.factory_names().contains(&entry.name.as_str()) {
            format!("{BUILTIN_LIBRARY}:{}", entry.name)
        } else {
            entry.name.clone()
        };
        let spec = PluginSpec {
            id: entry.name.clone(),
            use_,
            options: Vec::new(),
            origin: entry.origin.clone(),
            option_origins: Vec::new(),
        };
        match self.builder.build_one(&spec) {
            Ok(built) => {
                self.extra.push(built.clone());
                Ok(built)
            }
            Err(BuildError::NotFound { .. }) => Err(format!(
                "`{}` is neither a [plugin:{}] section nor a known plugin or built-in name",
                entry.name, entry.name
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    fn link(&mut self, entry: &EntrySpec, role: Role, plugins_ok: bool) -> Option<ChainLink> {
        let at = if entry.origin.is_empty() {
            "(code)".to_owned()
        } else {
            entry.origin.clone()
        };
        match self.lookup(entry) {
            Ok(built) => {
                let handle = built.handle;
                if !role.played_by(&handle) {
                    self.errors.push(SetupError::Chain {
                        at,
                        message: format!(
                            "`{}` is not {} (it is: {})",
                            entry.name,
                            role.noun(),
                            handle.role_names().join(", ")
                        ),
                    });
                    return None;
                }
                Some(ChainLink {
                    name: entry.name.clone(),
                    classifier: entry.classifier.clone(),
                    handle,
                    library: built.library.path().to_owned(),
                    asks_before_blocking: built.asks_before_blocking,
                })
            }
            Err(message) => {
                if !message.is_empty() && plugins_ok || !message.is_empty() {
                    self.errors.push(SetupError::Chain { at, message });
                }
                None
            }
        }
    }

    fn chain(&mut self, entries: &[EntrySpec], role: Role, plugins_ok: bool) -> Vec<ChainLink> {
        entries
            .iter()
            .filter_map(|e| self.link(e, role, plugins_ok))
            .collect()
    }

    fn single(&mut self, entry: EntrySpec, role: Role, plugins_ok: bool) -> Option<ChainLink> {
        self.link(&entry, role, plugins_ok)
    }
}

struct FactoryInner {
    /// `[general] audit_log`: where decision lines go (off when `None`).
    audit: Option<Arc<crate::audit::AuditSink>>,
    identifiers: Vec<ChainLink>,
    authenticators: Vec<ChainLink>,
    challengers: Vec<ChainLink>,
    mdproviders: Vec<ChainLink>,
    /// `None`: no `[authorizers]` section.
    authorizers: Option<Vec<ChainLink>>,
    classifier: ChainLink,
    decider: ChainLink,
    remote_user_key: String,
    registry: PluginRegistry,
    source: Option<PathBuf>,
    trusted_proxies: Vec<String>,
    general_options: Vec<(String, String)>,
    does_io: bool,
    /// Some plugin does I/O without asking before it blocks.
    unannounced_io: bool,
    observer: Option<Arc<dyn CallObserver>>,
    /// `[general] call_timeout` and each plugin's own.
    deadlines: Arc<Deadlines>,
    /// Plugins with a call stuck past `call_timeout`: skipped until it returns.
    tripped: Arc<Tripped>,
}

impl FactoryInner {
    /// Runs one plugin call, timing it for the observer when there is one. A plugin with a
    /// call stuck past its deadline fails at once; on an edge's blocking thread the call is
    /// recorded so the edge can tell which plugin a late request is stuck in.
    #[inline]
    fn call<T>(
        &self,
        link: &ChainLink,
        role: Role,
        call: impl FnOnce() -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        if crate::inline::yielded() {
            return Err(PluginError::new(
                "skipped: this inline attempt is run again on a blocking thread",
            ));
        }
        if let Some(e) = self.tripped.refuse(&link.name) {
            return Err(e);
        }
        call_timeout::watched(&link.name, role, || self.observed(link, role, call))
    }

    #[inline]
    fn observed<T>(
        &self,
        link: &ChainLink,
        role: Role,
        call: impl FnOnce() -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        match &self.observer {
            None => call(),
            Some(observer) => {
                let start = Instant::now();
                let out = call();
                // A plugin that stopped because the host asked it not to block did not fail.
                let ok = out.is_ok() || crate::inline::yielded();
                observer.plugin_call(&link.name, role, start.elapsed(), ok);
                out
            }
        }
    }
}

/// The configured plugins and chains, immutable and shared by every request (`Send + Sync`,
/// cheap to clone). repoze.who's `APIFactory`.
#[derive(Clone)]
pub struct ApiFactory {
    inner: Arc<FactoryInner>,
}

impl std::fmt::Debug for ApiFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |c: &[ChainLink]| c.iter().map(|l| l.name.clone()).collect::<Vec<_>>();
        f.debug_struct("ApiFactory")
            .field("identifiers", &names(&self.inner.identifiers))
            .field("authenticators", &names(&self.inner.authenticators))
            .field("challengers", &names(&self.inner.challengers))
            .field("mdproviders", &names(&self.inner.mdproviders))
            .finish()
    }
}

impl ApiFactory {
    /// Reads `path` and builds everything it configures.
    pub fn from_config_file(path: &Path) -> Result<ApiFactory, FactoryError> {
        let config = Config::from_file(path)?;
        ApiFactoryBuilder::from_config(&config).build()
    }

    /// Starts a factory in code.
    pub fn builder() -> ApiFactoryBuilder {
        ApiFactoryBuilder::new()
    }

    /// The per-request API for `req`. Create one per request and keep it for the request's
    /// lifetime (the edges store it in the request's extensions), as repoze.who caches
    /// `environ['repoze.who.api']`.
    pub fn api<'r>(&'r self, req: Request<'r>) -> Api<'r> {
        self.api_with_environ(req, EnvironState::new())
    }

    /// Like [`api`](Self::api), with an environ the edge prepared (e.g. a `REMOTE_USER` the
    /// server already authenticated).
    pub fn api_with_environ<'r>(&'r self, req: Request<'r>, mut env: EnvironState) -> Api<'r> {
        let inner = &*self.inner;
        let classification = match inner.call(&inner.classifier, Role::RequestClassifier, || {
            inner.classifier.handle.classify(&req, &mut env.view())
        }) {
            Ok(c) => c,
            Err(e) => {
                plugin_failed(&inner.classifier, Role::RequestClassifier, &e);
                Key::from_static("")
            }
        };
        tracing::trace!(classification = %classification, "request classified");
        Api {
            factory: inner,
            req,
            env,
            classification,
            identity: None,
            authenticated: false,
            authz: None,
        }
    }

    /// Picks a request's [`Api`] up again from the state [`Api::suspend`] saved, with a view
    /// of the same request. `state` must come from an `Api` of this factory (checked in debug
    /// builds). Edges use this to keep one Api per request across an `await` or a move to a
    /// blocking thread, since an `Api` borrows its request view.
    pub fn resume<'r>(&'r self, req: Request<'r>, state: ApiState) -> Api<'r> {
        debug_assert_eq!(
            state.factory,
            Arc::as_ptr(&self.inner) as usize,
            "ApiState resumed on another factory"
        );
        Api {
            factory: &self.inner,
            req,
            env: state.env,
            classification: state.classification,
            identity: state.identity,
            authenticated: state.authenticated,
            authz: state.authz,
        }
    }

    /// The identifiers chain.
    pub fn identifiers(&self) -> &[ChainLink] {
        &self.inner.identifiers
    }
    /// The authenticators chain.
    pub fn authenticators(&self) -> &[ChainLink] {
        &self.inner.authenticators
    }
    /// The challengers chain.
    pub fn challengers(&self) -> &[ChainLink] {
        &self.inner.challengers
    }
    /// The metadata providers chain.
    pub fn mdproviders(&self) -> &[ChainLink] {
        &self.inner.mdproviders
    }

    /// What the `[authorizers]` would decide for `req` and `identity` (taken as authenticated):
    /// `rewho check --explain`.
    pub fn explain(&self, req: &OwnedRequest, identity: Option<&Identity>) -> Authz {
        req.with_view(|view| {
            let mut api = self.api(view);
            if let Some(identity) = identity {
                api.identity = Some(identity.clone());
                api.authenticated = true;
            }
            api.authorize()
        })
    }

    /// The `[authorizers]` chain, or `None` when the config has no such section.
    pub fn authorizers(&self) -> Option<&[ChainLink]> {
        self.inner.authorizers.as_deref()
    }
    /// The request classifier.
    pub fn request_classifier(&self) -> &ChainLink {
        &self.inner.classifier
    }
    /// The challenge decider.
    pub fn challenge_decider(&self) -> &ChainLink {
        &self.inner.decider
    }
    /// Every built `[plugin:ID]`, in build order.
    pub fn registry(&self) -> &PluginRegistry {
        &self.inner.registry
    }
    /// The environ key holding the user id (`REMOTE_USER`).
    pub fn remote_user_key(&self) -> &str {
        &self.inner.remote_user_key
    }
    /// The config file this factory was built from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.inner.source.as_deref()
    }
    /// Every downstream header name a plugin declared it may set or remove (metadata key
    /// `downstream_headers`): the edges strip client copies of these from the first request.
    pub fn downstream_header_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for plugin in self.inner.registry.iter() {
            let declared = plugin.handle.metadata().get("downstream_headers");
            for name in declared.and_then(Value::as_list).unwrap_or(&[]) {
                if let Some(name) = name.as_str() {
                    if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                        names.push(name.to_owned());
                    }
                }
            }
        }
        names
    }

    /// `[general] trusted_proxies` as written.
    pub fn trusted_proxies(&self) -> &[String] {
        &self.inner.trusted_proxies
    }
    /// The last value of a `[general]` option that is not one of repoze.who's, as written
    /// (the edges read `real_ip_header` and `public_url` here).
    pub fn general_option(&self, key: &str) -> Option<&str> {
        self.inner
            .general_options
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// `true` when some plugin in a chain blocks on I/O: async edges then run requests on a
    /// blocking thread.
    pub fn does_io(&self) -> bool {
        self.inner.does_io
    }

    /// `true` when async edges may try requests inline first although [`does_io`] says
    /// `true`: every plugin that does I/O asks before it blocks, and a request one of them
    /// asked during runs again on a blocking thread (see
    /// [`Plugin::ASKS_BEFORE_BLOCKING`](rewho_plugin_api::Plugin::ASKS_BEFORE_BLOCKING)).
    ///
    /// [`does_io`]: Self::does_io
    pub fn inline_first(&self) -> bool {
        self.inner.does_io && !self.inner.unannounced_io
    }

    /// Runs `f` on this thread when the chains allow it: CPU-only chains always, I/O chains
    /// whose plugins ask before they block ([`inline_first`](Self::inline_first)) as an
    /// attempt that ends in `None` when one of them asked (what `f` changed must then be
    /// thrown away, and `f` run again where blocking is fine); `None` at once for chains
    /// with I/O that does not ask. The edges' one policy for where a request runs.
    #[cfg(feature = "server")]
    pub(crate) fn run_inline<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        if !self.does_io() {
            return Some(f());
        }
        if !self.inline_first() {
            return None;
        }
        let attempt = crate::inline::attempt(f);
        if let Some(o) = &self.inner.observer {
            o.inline_attempt(attempt.is_some());
        }
        attempt
    }

    /// `[general] call_timeout`: how long an edge waits for one plugin call of an I/O chain
    /// (`None`: forever). See [`WhoApi::try_run`](crate::WhoApi::try_run).
    pub fn call_timeout(&self) -> Option<Duration> {
        self.inner.deadlines.default
    }

    /// The deadline of one call of plugin `id`: its own `call_timeout` option, else
    /// `[general] call_timeout` (`None`: no deadline).
    pub fn plugin_call_timeout(&self, id: &str) -> Option<Duration> {
        self.inner.deadlines.for_plugin(id)
    }

    /// How long an edge waits for a request's plugin calls to start or for a call without a
    /// deadline before looking again; `None` when no plugin has a deadline.
    #[cfg(feature = "server")]
    pub(crate) fn call_wait_limit(&self) -> Option<Duration> {
        self.inner.deadlines.wait_limit()
    }

    /// A fresh watch for one request run on a blocking thread.
    #[cfg(feature = "server")]
    pub(crate) fn call_watch(&self) -> Arc<CallWatch> {
        CallWatch::new(self.inner.tripped.clone(), self.inner.deadlines.clone())
    }
}

fn plugin_failed(link: &ChainLink, role: Role, e: &PluginError) {
    if crate::inline::yielded() {
        // A plugin asked to block during an inline attempt: its early return, and the calls
        // skipped after it, are not failures; the request runs again on a blocking thread.
        return;
    }
    tracing::warn!(
        target: "rewho::chain",
        plugin = %link.name,
        call = role.label(),
        error = %e,
        "plugin call failed; skipping it for this request"
    );
}

/// What the edge does after [`Api::ingress`].
#[derive(Debug)]
pub enum Ingress {
    /// The remote user was already set: call the app without authenticating.
    PassThrough,
    /// Call the application (the identity, if any, is in the Api).
    Continue,
    /// An identifier answered the request itself (e.g. a redirect): send this.
    Respond(Response),
}

/// What the `[authorizers]` chain decided for one request ([`Api::authorize`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authz {
    /// No `[authorizers]` section: authentication alone decides, as before.
    NotConfigured,
    /// An authorizer allowed the request (anonymous ones too: its `anyone` rule).
    Allowed {
        /// The authorizer's chain name.
        by: String,
        /// Which rule decided.
        reason: String,
    },
    /// Denied: an authorizer said so or failed, or none decided (fail closed). Anonymous
    /// requests get the challenge, authenticated ones 403.
    Denied {
        /// The authorizer that decided, `None` when none did.
        by: Option<String>,
        /// Which rule decided, or why nothing did.
        reason: String,
    },
}

/// The 403 an authenticated user gets when an authorizer denies the request: never a
/// challenge, which would loop through the login again.
pub fn forbidden() -> Response {
    Response::new(403)
        .with_header("Content-Type", "text/plain; charset=utf-8")
        .with_body(&b"Forbidden: you are signed in, but may not access this page.\n"[..])
}

/// What the edge does with the application's response after [`Api::egress`].
#[derive(Debug)]
pub enum Egress {
    /// Replace the response with this challenge.
    Challenge(Response),
    /// Keep the response and append these headers.
    Remember(Vec<HeaderField>),
    /// A challenge was required but no challenger answered (a configuration error; repoze.who
    /// raises here). Edges answer 500.
    NoChallenger,
}

/// Per-request API: repoze.who's `API`. Holds the request view, its environ, the
/// classification and the authenticated identity.
pub struct Api<'r> {
    factory: &'r FactoryInner,
    req: Request<'r>,
    env: EnvironState,
    classification: Key,
    identity: Option<Identity>,
    authenticated: bool,
    /// What the `[authorizers]` chain decided, once asked.
    authz: Option<Authz>,
}

impl std::fmt::Debug for Api<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("classification", &self.classification)
            .field("identity", &self.identity)
            .finish()
    }
}

/// An [`Api`]'s per-request state without its borrows: environ, classification, identity.
/// [`Api::suspend`] makes one, [`ApiFactory::resume`] turns it back into an `Api`. `Debug`
/// shows only the classification and the (redacted) identity.
#[derive(Clone)]
pub struct ApiState {
    factory: usize,
    env: EnvironState,
    classification: Key,
    identity: Option<Identity>,
    authenticated: bool,
    /// What the `[authorizers]` chain decided, once asked.
    authz: Option<Authz>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("classification", &self.classification)
            .field("identity", &self.identity)
            .finish()
    }
}

impl ApiState {
    /// The authenticated identity, if any.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The per-request environ (downstream header edits, `REMOTE_USER`, tokens).
    pub fn environ(&self) -> &EnvironState {
        &self.env
    }

    /// The request's classification.
    pub fn classification(&self) -> &str {
        &self.classification
    }
}

impl<'r> Api<'r> {
    /// Saves this request's state and releases the borrows, to resume later with
    /// [`ApiFactory::resume`] (after an `await`, or on another thread).
    pub fn suspend(self) -> ApiState {
        ApiState {
            factory: self.factory as *const FactoryInner as usize,
            env: self.env,
            classification: self.classification,
            identity: self.identity,
            authenticated: self.authenticated,
            authz: self.authz,
        }
    }

    /// The request's classification (`browser`, `dav`, `xmlpost`, …).
    pub fn classification(&self) -> &str {
        &self.classification
    }

    /// The request view.
    pub fn request(&self) -> &Request<'r> {
        &self.req
    }

    /// The per-request environ (REMOTE_USER, tokens, downstream header edits).
    pub fn environ(&self) -> &EnvironState {
        &self.env
    }

    /// Mutable environ, for edges and applications.
    pub fn environ_mut(&mut self) -> &mut EnvironState {
        &mut self.env
    }

    /// The authenticated identity, if [`authenticate`](Self::authenticate) found one and no
    /// logout cleared it.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// Replaces the identity (an application's "identity reset"; `None` forgets it).
    pub fn set_identity(&mut self, identity: Option<Identity>) {
        self.identity = identity;
        self.authenticated = true;
    }

    /// The authenticated user id (`REMOTE_USER`).
    pub fn userid(&self) -> Option<&Value> {
        self.identity.as_ref().and_then(Identity::userid)
    }

    /// `-> identity | None`: identify, authenticate, rank, add metadata. The result is kept
    /// for the request: later calls return it without calling plugins again.
    pub fn authenticate(&mut self) -> Option<&Identity> {
        if !self.authenticated {
            self.authenticated = true;
            self.identity = self.run_authentication();
            if let Some(userid) = self.identity.as_ref().and_then(Identity::userid) {
                self.env.set(&self.factory.remote_user_key, userid.clone());
            }
        }
        self.identity.as_ref()
    }

    fn run_authentication(&mut self) -> Option<Identity> {
        let f = self.factory;
        // Identify: every matching identifier's result is kept, in chain order.
        let mut found: Vec<(&ChainLink, Identity)> = Vec::new();
        for link in f
            .identifiers
            .iter()
            .filter(|l| l.matches(&self.classification))
        {
            match f.call(link, Role::Identifier, || {
                link.handle.identify(&self.req, &mut self.env.view())
            }) {
                Ok(Some(identity)) => {
                    if found.capacity() == 0 {
                        // Room for every identifier at once: growing an empty `Vec` costs
                        // more than the allocation itself.
                        found = Vec::with_capacity(f.identifiers.len());
                    }
                    found.push((link, identity));
                }
                Ok(None) => {}
                Err(e) => plugin_failed(link, Role::Identifier, &e),
            }
        }
        if found.is_empty() {
            tracing::debug!(target: "rewho::chain", "no identities found, not authenticating");
            return None;
        }
        let (best, authenticator) = self.rank(&mut found)?;
        let (identifier, mut identity) = found.swap_remove(best.identity);
        // The winner's user id, not whatever a later authenticator stamped on the shared
        // identity (repoze.who leaves those two out of step).
        if identity.get(USERID_KEY) != Some(&best.userid) {
            identity.insert(USERID_KEY, best.userid);
        }
        identity.insert(AUTHENTICATOR_KEY, authenticator.name.as_str());
        identity.insert(IDENTIFIER_KEY, identifier.name.as_str());
        for link in f
            .mdproviders
            .iter()
            .filter(|l| l.matches(&self.classification))
        {
            if let Err(e) = f.call(link, Role::MetadataProvider, || {
                link.handle
                    .add_metadata(&self.req, &mut self.env.view(), &mut identity)
            }) {
                plugin_failed(link, Role::MetadataProvider, &e);
            }
        }
        Some(identity)
    }

    /// Asks every matching authenticator about every identity, as repoze.who does (later
    /// authenticators may still add keys to identities); the best result has the lowest
    /// (authenticator position, identity position), which is the first hit in this order.
    fn rank(
        &mut self,
        identities: &mut [(&ChainLink, Identity)],
    ) -> Option<(Ranked, &'r ChainLink)> {
        let f = self.factory;
        let mut best: Option<(Ranked, &'r ChainLink)> = None;
        for link in f
            .authenticators
            .iter()
            .filter(|l| l.matches(&self.classification))
        {
            for (index, (_, identity)) in identities.iter_mut().enumerate() {
                match f.call(link, Role::Authenticator, || {
                    link.handle
                        .authenticate(&self.req, &mut self.env.view(), identity)
                }) {
                    Ok(Some(userid)) => {
                        // Most authenticators (auth_tkt's, as repoze.who's) stamp it already;
                        // replacing an equal value would cost an allocation and a free.
                        if identity.get(USERID_KEY) != Some(&userid) {
                            identity.insert(USERID_KEY, userid.clone());
                        }
                        if best.is_none() {
                            best = Some((
                                Ranked {
                                    identity: index,
                                    userid,
                                },
                                link,
                            ));
                        }
                    }
                    Ok(None) => {}
                    Err(e) => plugin_failed(link, Role::Authenticator, &e),
                }
            }
        }
        best
    }

    /// `(status, app_headers) -> response | None`: forget headers from the identity's
    /// identifier, then the first matching challenger that answers.
    pub fn challenge(&mut self, status: u16, app_headers: &[HeaderField]) -> Option<Response> {
        let f = self.factory;
        let mut forget_headers = Vec::new();
        if let Some(identity) = &self.identity {
            if let Some(link) = identifier_of(f, identity) {
                match f.call(link, Role::Identifier, || {
                    link.handle
                        .forget(&self.req, &mut self.env.view(), identity)
                }) {
                    Ok(h) => forget_headers.extend(h),
                    Err(e) => plugin_failed(link, Role::Identifier, &e),
                }
            }
        }
        for link in f
            .challengers
            .iter()
            .filter(|l| l.matches(&self.classification))
        {
            match f.call(link, Role::Challenger, || {
                link.handle.challenge(
                    &self.req,
                    &mut self.env.view(),
                    status,
                    app_headers,
                    &forget_headers,
                )
            }) {
                Ok(Some(response)) => return Some(response),
                Ok(None) => {}
                Err(e) => plugin_failed(link, Role::Challenger, &e),
            }
        }
        tracing::info!(target: "rewho::chain", "no challenge app returned");
        None
    }

    /// `identity? -> [headers]`: the identity's identifier's remember headers. Without an
    /// argument, the request's authenticated identity (none after [`logout`](Self::logout)).
    pub fn remember(&mut self, identity: Option<&Identity>) -> Vec<HeaderField> {
        self.remember_or_forget(identity, true)
    }

    /// `identity? -> [headers]`: the identity's identifier's forget headers.
    pub fn forget(&mut self, identity: Option<&Identity>) -> Vec<HeaderField> {
        self.remember_or_forget(identity, false)
    }

    fn remember_or_forget(
        &mut self,
        identity: Option<&Identity>,
        remember: bool,
    ) -> Vec<HeaderField> {
        // Borrow the request's own identity in place: no map copy on every response.
        let Some(identity) = identity.or(self.identity.as_ref()) else {
            return Vec::new();
        };
        let Some(link) = identifier_of(self.factory, identity) else {
            return Vec::new();
        };
        let result = self.factory.call(link, Role::Identifier, || {
            if remember {
                link.handle
                    .remember(&self.req, &mut self.env.view(), identity)
            } else {
                link.handle
                    .forget(&self.req, &mut self.env.view(), identity)
            }
        });
        result.unwrap_or_else(|e| {
            plugin_failed(link, Role::Identifier, &e);
            Vec::new()
        })
    }

    fn identifiers_named(&self, name: Option<&str>) -> Vec<&'r ChainLink> {
        self.factory
            .identifiers
            .iter()
            .filter(|l| name.is_none_or(|n| l.name == n))
            .collect()
    }

    /// `(credentials, identifier_name?) -> (identity | None, headers)`, for login forms.
    ///
    /// Each identifier (or only `identifier_name`) in turn is treated as the source of
    /// `credentials` and the authenticators are asked; then every such identifier either
    /// remembers the authenticated identity or, on failure, forgets.
    pub fn login(
        &mut self,
        credentials: Identity,
        identifier_name: Option<&str>,
    ) -> (Option<Identity>, Vec<HeaderField>) {
        let identifiers = self.identifiers_named(identifier_name);
        let mut authenticated: Option<Identity> = None;
        // One credentials map for every pass, as repoze.who reuses its dict: what an
        // authenticator adds stays for the next pass.
        let mut credentials = credentials;
        for link in &identifiers {
            let mut found = [(*link, std::mem::take(&mut credentials))];
            let ranked = self.rank(&mut found);
            let [(_, identity)] = found;
            credentials = identity;
            if let Some((best, _)) = ranked {
                // The credentials themselves, stamped with the winner's id.
                credentials.insert(USERID_KEY, best.userid);
                authenticated = Some(credentials);
                break;
            }
        }
        let mut headers = Vec::new();
        let empty = Identity::new();
        for link in &identifiers {
            let result = self
                .factory
                .call(link, Role::Identifier, || match &authenticated {
                    Some(identity) => {
                        link.handle
                            .remember(&self.req, &mut self.env.view(), identity)
                    }
                    None => link.handle.forget(&self.req, &mut self.env.view(), &empty),
                });
            match result {
                Ok(h) => headers.extend(h),
                Err(e) => plugin_failed(link, Role::Identifier, &e),
            }
        }
        (authenticated, headers)
    }

    /// `identifier_name? -> [headers]`: every identifier's (or one's) forget headers, and
    /// clears the request's identity so the response does not remember it again.
    pub fn logout(&mut self, identifier_name: Option<&str>) -> Vec<HeaderField> {
        let mut headers = Vec::new();
        let empty = Identity::new();
        for link in self.identifiers_named(identifier_name) {
            match self.factory.call(link, Role::Identifier, || {
                link.handle.forget(&self.req, &mut self.env.view(), &empty)
            }) {
                Ok(h) => headers.extend(h),
                Err(e) => plugin_failed(link, Role::Identifier, &e),
            }
        }
        self.identity = None;
        self.authenticated = true;
        headers
    }

    /// Ingress as repoze.who's middleware does it: pass through when the remote user is
    /// already set, else authenticate and honour an identifier's replacement response.
    pub fn ingress(&mut self) -> Ingress {
        if !self.authenticated && self.env.get(&self.factory.remote_user_key).is_some() {
            return Ingress::PassThrough;
        }
        self.authenticate();
        if let Some(r) = self.env.take_response() {
            return Ingress::Respond(r);
        }
        let denied = matches!(self.decide_authz(), Authz::Denied { .. });
        match denied {
            false => Ingress::Continue,
            true if self.identity.is_some() => Ingress::Respond(forbidden()),
            // Anonymous and denied: the challenge, as for any anonymous request refused.
            true => Ingress::Respond(
                self.challenge(401, &[])
                    .unwrap_or_else(|| Response::new(401).with_body(&b"Not authenticated.\n"[..])),
            ),
        }
    }

    /// Asks the `[authorizers]` chain whether this request may proceed, for the identity
    /// [`authenticate`](Self::authenticate) found (or none). The first authorizer that allows
    /// or denies decides; an authorizer that fails denies (fail closed), and so does a chain in
    /// which none decides. Without an `[authorizers]` section: [`Authz::NotConfigured`]. The
    /// answer is kept: a second call does not ask again.
    pub fn authorize(&mut self) -> Authz {
        self.decide_authz().clone()
    }

    /// [`authorize`](Self::authorize) without the copy: the edges only look at the answer.
    fn decide_authz(&mut self) -> &Authz {
        if self.authz.is_none() {
            let decided = self.run_authorizers();
            if crate::inline::yielded() {
                // A voided inline attempt: it runs again on a blocking thread, which decides
                // (and writes the audit line).
                return self.authz.insert(decided);
            }
            self.audit(&decided);
            self.authz = Some(decided);
        }
        self.authz.get_or_insert(Authz::NotConfigured)
    }

    fn run_authorizers(&mut self) -> Authz {
        let f = self.factory;
        let decided = match &f.authorizers {
            None => Authz::NotConfigured,
            Some(chain) => {
                let identity = self.identity.as_ref();
                let mut decided = None;
                for link in chain.iter().filter(|l| l.matches(&self.classification)) {
                    let answer = f.call(link, Role::Authorizer, || {
                        link.handle
                            .authorize(&self.req, &mut self.env.view(), identity)
                    });
                    match answer {
                        Ok(a) => match a.decision {
                            Decision::Abstain => continue,
                            Decision::Allow => {
                                decided = Some(Authz::Allowed {
                                    by: link.name.clone(),
                                    reason: a.reason().to_owned(),
                                });
                            }
                            Decision::Deny => {
                                decided = Some(Authz::Denied {
                                    by: Some(link.name.clone()),
                                    reason: a.reason().to_owned(),
                                });
                            }
                        },
                        Err(e) => {
                            plugin_failed(link, Role::Authorizer, &e);
                            decided = Some(Authz::Denied {
                                by: Some(link.name.clone()),
                                reason: "the authorizer failed (fail closed)".into(),
                            });
                        }
                    }
                    break;
                }
                decided.unwrap_or_else(|| Authz::Denied {
                    by: None,
                    reason: "no authorizer decided (fail closed)".into(),
                })
            }
        };
        decided
    }

    /// Writes one audit line for an authorization decision: to `[general] audit_log`
    /// (`stderr` or a file) when set, and as an event on the `rewho::audit` tracing target
    /// (off in the binary's default filter; `REWHO_LOG=info,rewho::audit=info` shows it).
    fn audit(&self, decided: &Authz) {
        let traced = tracing::enabled!(target: "rewho::audit", tracing::Level::INFO);
        if self.factory.audit.is_none() && !traced {
            return;
        }
        let (decision, authorizer, rule) = match decided {
            Authz::NotConfigured => (crate::audit::AuditDecision::Allow, None, None),
            Authz::Allowed { by, reason } => (
                crate::audit::AuditDecision::Allow,
                Some(by.as_str()),
                Some(reason.as_str()),
            ),
            Authz::Denied { by, reason } => (
                if self.identity.is_some() {
                    crate::audit::AuditDecision::Deny
                } else {
                    crate::audit::AuditDecision::Challenge
                },
                by.as_deref(),
                Some(reason.as_str()),
            ),
        };
        let identity = self.identity.as_ref();
        let user = identity
            .and_then(|i| i.userid())
            .map(Value::to_display_string);
        let record = crate::audit::AuditRecord {
            time: std::time::SystemTime::now(),
            request_id: self.env.get_str("rewho.request_id").unwrap_or(""),
            client: self.req.client_addr(),
            method: self.req.method(),
            scheme: self.req.scheme(),
            host: self.req.host(),
            path: self.req.path(),
            query: self.req.query(),
            user: user.as_deref(),
            decision,
            status: None,
            identifier: identity.and_then(|i| i.get_str(IDENTIFIER_KEY)),
            authenticator: identity.and_then(|i| i.get_str(AUTHENTICATOR_KEY)),
            authorizer,
            rule,
        };
        let line = record.to_json_line();
        if let Some(sink) = &self.factory.audit {
            sink.write_line(&line);
        }
        if traced {
            tracing::info!(target: "rewho::audit", "{line}");
        }
    }

    /// Egress: ask the decider about the app's response; challenge, or remember.
    pub fn egress(&mut self, status: u16, app_headers: &[HeaderField]) -> Egress {
        let f = self.factory;
        let decision = f
            .call(&f.decider, Role::ChallengeDecider, || {
                f.decider
                    .handle
                    .decide(&self.req, &mut self.env.view(), status, app_headers)
            })
            .unwrap_or_else(|e| {
                plugin_failed(&f.decider, Role::ChallengeDecider, &e);
                status == 401
            });
        if decision {
            match self.challenge(status, app_headers) {
                Some(r) => Egress::Challenge(r),
                None => Egress::NoChallenger,
            }
        } else {
            Egress::Remember(self.remember(None))
        }
    }
}

/// The identifier (in the chain) named by an identity's `identifier` key.
fn identifier_of<'f>(factory: &'f FactoryInner, identity: &Identity) -> Option<&'f ChainLink> {
    let name = identity.get_str(IDENTIFIER_KEY)?;
    factory.identifiers.iter().find(|l| l.name == name)
}

struct Ranked {
    identity: usize,
    userid: Value,
}
