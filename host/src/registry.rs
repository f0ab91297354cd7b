//! Building every `[plugin:ID]` section into a plugin object, in dependency order.
//!
//! A section that names another in a reference option (`authenticator_name = ldap`) depends on
//! it: the named one is built first so the factory can look it up through its
//! [`Host`](rewho_plugin_api::Host). Every section is built whether or not a chain lists it
//! (repoze.who needed the `ldap;unused` trick for that). Failures are collected, not
//! stopped at: `rewho check` reports all of them at once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::RVec;
use abi_stable::std_types::{RArc, ROption, RStr};
use rewho_plugin_api::abi::{
    Extension, FactoryContextAbi, FactoryContextAbi_TO, HostAbi, HostAbi_TO, HostRef, LogLevel,
    OptionEntry, PluginObjectRef, UnixTime, HOST_API_LEVEL,
};
use rewho_plugin_api::PluginHandle;

use crate::builtins::{builtin_library, map_dotted_name, BUILTIN_LIBRARY};
use crate::loader::{LoadError, PluginLibrary, PluginPath};

/// The host's clock, shared with plugins; tests replace it to move time.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

/// Why one plugin could not be built. Names the section and, when known, the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Its library could not be found on the plugin path.
    #[error("{at}: no plugin library named `{name}` (looked for {candidates} in: {dirs})")]
    NotFound {
        /// `file:line: [plugin:ID]`.
        at: String,
        /// The short name.
        name: String,
        /// File names tried.
        candidates: String,
        /// Folders searched.
        dirs: String,
    },
    /// Its library failed to load.
    #[error("{at}: {source}")]
    Load {
        /// `file:line: [plugin:ID]`.
        at: String,
        /// The loader's error.
        #[source]
        source: LoadError,
    },
    /// The library does not offer the factory asked for.
    #[error("{at}: library {library} has no factory `{factory}` (it provides: {known})")]
    UnknownFactory {
        /// `file:line: [plugin:ID]`.
        at: String,
        /// The library file.
        library: String,
        /// The factory asked for.
        factory: String,
        /// The factories it has.
        known: String,
    },
    /// The factory refused the options (or failed in another way).
    #[error("{at}: {message}")]
    Factory {
        /// `file:line: [plugin:ID]`.
        at: String,
        /// The factory's message (names the key for option errors).
        message: String,
    },
    /// The plugin needs something this host does not offer, or was built so that a panic
    /// would kill the host.
    #[error("{at}: {library} cannot run in this host: {reason}")]
    Unsupported {
        /// Where the section is.
        at: String,
        /// The library file.
        library: String,
        /// What it needs, by name.
        reason: String,
    },
    /// Sections name each other in a cycle.
    #[error("{at}: dependency cycle: {cycle}")]
    Cycle {
        /// `file:line: [plugin:ID]`.
        at: String,
        /// `a → b → a`.
        cycle: String,
    },
    /// It depends on a section that failed.
    #[error("{at}: not built because `{dependency}` failed")]
    DependencyFailed {
        /// `file:line: [plugin:ID]`.
        at: String,
        /// The failed section id.
        dependency: String,
    },
}

/// One plugin to build: what a `[plugin:ID]` section says, or what a builder was told in code.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// The section id.
    pub id: String,
    /// The `use =` value.
    pub use_: String,
    /// Options except `use`.
    pub options: Vec<(String, String)>,
    /// Where it was written: `who.ini:12` (empty for code-built factories).
    pub origin: String,
    /// Where each option was written, parallel to `options` (may be empty).
    pub option_origins: Vec<String>,
}

/// How a `use =` value is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UseTarget {
    /// A short name found on the plugin path (`auth_tkt`), or a static library registered
    /// in code, or `builtin`.
    Short(String),
    /// A file (relative to the config's folder).
    File(PathBuf),
}

/// A parsed `use =` value: a library and optionally a factory within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseSpec {
    /// Which library.
    pub target: UseTarget,
    /// Which factory (`None` = the library's first).
    pub factory: Option<String>,
}

impl UseSpec {
    /// Parses `auth_tkt`, `./x.so`, `/abs/x.so`, `lib:factory`, `x.so:factory`, or a
    /// repoze.who dotted name.
    pub fn parse(value: &str, config_dir: &Path) -> UseSpec {
        let value = value.trim();
        if let Some(m) = map_dotted_name(value) {
            return UseSpec {
                target: UseTarget::Short(m.library.to_owned()),
                factory: m.factory.map(str::to_owned),
            };
        }
        let (lib, factory) = match value.rsplit_once(':') {
            Some((l, f)) if !f.contains('/') && !f.is_empty() => (l, Some(f.to_owned())),
            _ => (value, None),
        };
        let looks_like_file =
            lib.contains('/') || lib.ends_with(&format!(".{}", std::env::consts::DLL_EXTENSION));
        let target = if looks_like_file {
            UseTarget::File(config_dir.join(lib))
        } else {
            UseTarget::Short(lib.to_owned())
        };
        UseSpec { target, factory }
    }
}

/// A plugin that was built: its id, where it came from, and the handle chains call.
#[derive(Debug, Clone)]
pub struct BuiltPlugin {
    /// Section id.
    pub id: String,
    /// The library it came from.
    pub library: PluginLibrary,
    /// The factory used.
    pub factory: String,
    /// The plugin.
    pub handle: PluginHandle,
    /// Its factory promised to ask before blocking
    /// ([`Plugin::ASKS_BEFORE_BLOCKING`](rewho_plugin_api::Plugin::ASKS_BEFORE_BLOCKING)),
    /// so async edges may try its chains inline even though it does I/O.
    pub asks_before_blocking: bool,
}

/// Shared state behind every plugin's host context.
struct HostShared {
    plugins: RwLock<HashMap<String, PluginObjectRef>>,
    clock: Clock,
}

/// What a factory sees while it builds one plugin.
struct FactoryCtx<'a> {
    plugin_id: &'a str,
    factory: &'a str,
    options: &'a [OptionEntry<'a>],
    config_dir: &'a str,
    host: HostRef,
}

impl FactoryContextAbi for FactoryCtx<'_> {
    fn plugin_id(&self) -> RStr<'_> {
        self.plugin_id.into()
    }
    fn factory(&self) -> RStr<'_> {
        self.factory.into()
    }
    fn options(&self) -> RVec<OptionEntry<'_>> {
        self.options.iter().copied().collect()
    }
    fn config_dir(&self) -> RStr<'_> {
        self.config_dir.into()
    }
    fn host(&self) -> HostRef {
        self.host.clone()
    }
    fn capability(&self, _name: RStr<'_>) -> ROption<Extension> {
        ROption::RNone
    }
}

/// The host context one plugin receives: tags its logs with the plugin id.
struct HostContext {
    plugin_id: String,
    shared: Arc<HostShared>,
}

impl HostAbi for HostContext {
    fn plugin(&self, name: RStr<'_>) -> ROption<PluginObjectRef> {
        let map = self
            .shared
            .plugins
            .read()
            .unwrap_or_else(|e| e.into_inner());
        map.get(name.as_str()).cloned().into()
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let plugin = self.plugin_id.as_str();
        let message = message.as_str();
        match level {
            LogLevel::Trace => tracing::trace!(target: "rewho::plugin", plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "rewho::plugin", plugin, "{message}"),
            LogLevel::Info => tracing::info!(target: "rewho::plugin", plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "rewho::plugin", plugin, "{message}"),
            LogLevel::Error => tracing::error!(target: "rewho::plugin", plugin, "{message}"),
        }
    }

    fn may_block(&self) -> bool {
        crate::inline::may_block()
    }

    fn api_level(&self) -> u32 {
        HOST_API_LEVEL
    }

    fn capability(&self, _name: RStr<'_>) -> ROption<Extension> {
        ROption::RNone
    }

    fn now(&self) -> UnixTime {
        let now = (self.shared.clock)();
        match now.duration_since(UNIX_EPOCH) {
            Ok(d) => UnixTime {
                secs: d.as_secs() as i64,
                nanos: d.subsec_nanos(),
            },
            Err(e) => UnixTime {
                secs: -(e.duration().as_secs() as i64),
                nanos: 0,
            },
        }
    }
}

/// Every plugin built from one configuration, by id.
#[derive(Debug, Clone, Default)]
pub struct PluginRegistry {
    plugins: Vec<BuiltPlugin>,
    index: HashMap<String, usize>,
}

impl PluginRegistry {
    /// The plugin built from `[plugin:id]`.
    pub fn get(&self, id: &str) -> Option<&BuiltPlugin> {
        self.index.get(id).map(|&i| &self.plugins[i])
    }

    /// All plugins in build order.
    pub fn iter(&self) -> impl Iterator<Item = &BuiltPlugin> {
        self.plugins.iter()
    }

    /// Number of plugins.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// `true` when nothing was built.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }
}

/// Builds plugins: resolves libraries, orders by dependency, calls factories.
pub struct RegistryBuilder {
    plugin_path: PluginPath,
    config_dir: PathBuf,
    statics: HashMap<String, PluginLibrary>,
    shared: Arc<HostShared>,
}

impl RegistryBuilder {
    /// A builder searching `plugin_path`, resolving files against `config_dir`.
    pub fn new(plugin_path: PluginPath, config_dir: PathBuf, clock: Clock) -> Self {
        let mut statics = HashMap::new();
        statics.insert(BUILTIN_LIBRARY.to_owned(), builtin_library());
        RegistryBuilder {
            plugin_path,
            config_dir,
            statics,
            shared: Arc::new(HostShared {
                plugins: RwLock::new(HashMap::new()),
                clock,
            }),
        }
    }

    /// Registers a library linked into the binary under a short name (it wins over files).
    pub fn static_library(&mut self, name: &str, library: PluginLibrary) {
        self.statics.insert(name.to_owned(), library);
    }

    /// Finds the library a `use` spec names.
    pub fn resolve_library(&self, spec: &UseSpec, at: &str) -> Result<PluginLibrary, BuildError> {
        match &spec.target {
            UseTarget::Short(name) => {
                if let Some(lib) = self.statics.get(name) {
                    return Ok(*lib);
                }
                let path = self
                    .plugin_path
                    .find(name)
                    .ok_or_else(|| BuildError::NotFound {
                        at: at.to_owned(),
                        name: name.clone(),
                        candidates: PluginPath::candidates(name).join(", "),
                        dirs: self
                            .plugin_path
                            .dirs()
                            .iter()
                            .map(|d| d.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?;
                PluginLibrary::open(&path).map_err(|source| BuildError::Load {
                    at: at.to_owned(),
                    source,
                })
            }
            UseTarget::File(path) => PluginLibrary::open(path).map_err(|source| BuildError::Load {
                at: at.to_owned(),
                source,
            }),
        }
    }

    /// Builds one plugin (its dependencies must already be built).
    pub fn build_one(&self, spec: &PluginSpec) -> Result<BuiltPlugin, BuildError> {
        let at = location(spec);
        let use_spec = UseSpec::parse(&spec.use_, &self.config_dir);
        let library = self.resolve_library(&use_spec, &at)?;
        let factory = match &use_spec.factory {
            Some(f) => f.clone(),
            None => library
                .factory_names()
                .first()
                .map(|s| (*s).to_owned())
                .unwrap_or_default(),
        };
        if !library.factory_names().contains(&factory.as_str()) {
            return Err(BuildError::UnknownFactory {
                at,
                library: library.path().display().to_string(),
                factory,
                known: library.factory_names().join(", "),
            });
        }
        if let Some(info) = library
            .factories()
            .iter()
            .find(|f| f.name.as_str() == factory)
        {
            check_metadata(&(info.metadata)(), &library, &at)?;
        }
        let options: Vec<OptionEntry<'_>> = spec
            .options
            .iter()
            .map(|(k, v)| OptionEntry {
                key: k.as_str().into(),
                value: v.as_str().into(),
            })
            .collect();
        let host: HostRef = RArc::new(HostAbi_TO::from_value(
            HostContext {
                plugin_id: spec.id.clone(),
                shared: self.shared.clone(),
            },
            TD_Opaque,
        ));
        let config_dir = self.config_dir.to_string_lossy();
        let ctx = FactoryCtx {
            plugin_id: &spec.id,
            factory: &factory,
            options: &options,
            config_dir: &config_dir,
            host,
        };
        let object = (library.module().make())(FactoryContextAbi_TO::from_ptr(&ctx, TD_Opaque))
            .into_result()
            .map_err(|error| {
                let message = error.get_str("message").unwrap_or("factory failed");
                // Option errors already name the section; say it once.
                let tag = format!("[plugin:{}]", spec.id);
                let message = message
                    .strip_prefix(tag.as_str())
                    .map(|m| m.trim_start_matches(':').trim_start())
                    .unwrap_or(message);
                // Point at the option's own line when the plugin names one.
                // (a plugin's own error naming "option `key`" counts too).
                let at = error
                    .get_str("option")
                    .or_else(|| option_named_in(message))
                    .and_then(|key| spec.options.iter().position(|(k, _)| k == key))
                    .and_then(|i| spec.option_origins.get(i))
                    .map(|origin| format!("{origin}: [plugin:{}]", spec.id))
                    .unwrap_or_else(|| at.clone());
                BuildError::Factory {
                    at,
                    message: message.to_owned(),
                }
            })?;
        self.shared
            .plugins
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(spec.id.clone(), object.clone());
        Ok(BuiltPlugin {
            id: spec.id.clone(),
            library,
            factory,
            asks_before_blocking: object
                .metadata
                .get("asks_before_blocking")
                .and_then(rewho_plugin_api::Value::as_bool)
                == Some(true),
            handle: PluginHandle::new(object),
        })
    }

    /// Builds every spec, dependencies first; returns all failures if any.
    pub fn build_all(&self, specs: &[PluginSpec]) -> Result<PluginRegistry, Vec<BuildError>> {
        let order = dependency_order(specs);
        let mut registry = PluginRegistry::default();
        let mut errors = Vec::new();
        let mut failed: HashSet<&str> = HashSet::new();
        for step in order {
            let spec = &specs[step.index];
            if let Some(cycle) = step.cycle {
                errors.push(BuildError::Cycle {
                    at: location(spec),
                    cycle,
                });
                failed.insert(&spec.id);
                continue;
            }
            if let Some(dep) = dependencies(spec, specs).find(|d| failed.contains(d)) {
                errors.push(BuildError::DependencyFailed {
                    at: location(spec),
                    dependency: dep.to_owned(),
                });
                failed.insert(&spec.id);
                continue;
            }
            match self.build_one(spec) {
                Ok(built) => {
                    registry
                        .index
                        .insert(built.id.clone(), registry.plugins.len());
                    registry.plugins.push(built);
                }
                Err(e) => {
                    errors.push(e);
                    failed.insert(&spec.id);
                }
            }
        }
        if errors.is_empty() {
            Ok(registry)
        } else {
            Err(errors)
        }
    }
}

/// The key in a message starting "option `key`".
fn option_named_in(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("option `")?;
    rest.split_once('`').map(|(key, _)| key)
}

/// Host capabilities added after ABI 1.0, by the names plugins list under `requires`. Empty
/// in a 1.0 host; each later capability is added here and in docs/PLUGINS.md.
pub const HOST_CAPABILITIES: &[&str] = &[];

/// Refuses a plugin whose metadata asks for more than this host offers (a newer API level, a
/// capability it does not have) or that was built with `panic = "abort"`.
fn check_metadata(
    metadata: &rewho_plugin_api::Map,
    library: &PluginLibrary,
    at: &str,
) -> Result<(), BuildError> {
    let unsupported = |reason: String| BuildError::Unsupported {
        at: at.to_owned(),
        library: library.path().display().to_string(),
        reason,
    };
    let requires = metadata
        .get("requires")
        .and_then(rewho_plugin_api::Value::as_list)
        .unwrap_or(&[]);
    for need in requires.iter().filter_map(rewho_plugin_api::Value::as_str) {
        if !HOST_CAPABILITIES.contains(&need) {
            return Err(unsupported(format!(
                "it requires the host capability `{need}`, which this host (plugin API level \
                 {HOST_API_LEVEL}) does not have; upgrade rewho"
            )));
        }
    }
    if metadata.get_str("panic") == Some("abort") {
        return Err(unsupported(
            "it was built with panic = \"abort\", so its first panic would kill the host; \
             rebuild it with panic = \"unwind\""
                .into(),
        ));
    }
    Ok(())
}

fn location(spec: &PluginSpec) -> String {
    if spec.origin.is_empty() {
        format!("[plugin:{}]", spec.id)
    } else {
        format!("{}: [plugin:{}]", spec.origin, spec.id)
    }
}

/// Options that name another plugin section: `<role>_name`, as repoze.who's plugins spell
/// them (`authenticator_name`, `rememberer_name`, …). `cookie_name`, `header_name` and the like
/// are ordinary values, even when one happens to equal a section id.
pub const REFERENCE_OPTIONS: &[&str] = &[
    "authenticator_name",
    "identifier_name",
    "challenger_name",
    "mdprovider_name",
    "rememberer_name",
    "classifier_name",
    "decider_name",
    "plugin_name",
    "wrapped_name",
];

/// The sections `spec` names in reference options (itself included, which is a cycle).
fn dependencies<'a>(spec: &'a PluginSpec, all: &'a [PluginSpec]) -> impl Iterator<Item = &'a str> {
    spec.options
        .iter()
        .filter(|(k, _)| REFERENCE_OPTIONS.contains(&k.as_str()))
        .flat_map(|(_, v)| v.split_whitespace())
        .filter(move |v| all.iter().any(|s| s.id == *v))
}

struct Step {
    index: usize,
    cycle: Option<String>,
}

/// Depth-first order (file order among independent sections). A section that closes a cycle
/// gets a step carrying the cycle's description; the others on it then fail as dependents.
fn dependency_order(specs: &[PluginSpec]) -> Vec<Step> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    struct Walk<'s> {
        specs: &'s [PluginSpec],
        marks: Vec<Mark>,
        stack: Vec<usize>,
        out: Vec<Step>,
    }
    impl Walk<'_> {
        fn visit(&mut self, i: usize) {
            self.marks[i] = Mark::Active;
            self.stack.push(i);
            let mut cycle = None;
            let deps: Vec<usize> = dependencies(&self.specs[i], self.specs)
                .filter_map(|d| self.specs.iter().position(|s| s.id == d))
                .collect();
            for d in deps {
                match self.marks[d] {
                    Mark::New => self.visit(d),
                    Mark::Active => {
                        let start = self.stack.iter().position(|&s| s == d).unwrap_or(0);
                        let mut names: Vec<&str> = self.stack[start..]
                            .iter()
                            .map(|&s| self.specs[s].id.as_str())
                            .collect();
                        names.push(&self.specs[d].id);
                        cycle.get_or_insert(names.join(" → "));
                    }
                    Mark::Done => {}
                }
            }
            self.stack.pop();
            self.marks[i] = Mark::Done;
            self.out.push(Step { index: i, cycle });
        }
    }
    let mut walk = Walk {
        specs,
        marks: vec![Mark::New; specs.len()],
        stack: Vec::new(),
        out: Vec::new(),
    };
    for i in 0..specs.len() {
        if walk.marks[i] == Mark::New {
            walk.visit(i);
        }
    }
    walk.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str, deps: &[&str]) -> PluginSpec {
        PluginSpec {
            id: id.into(),
            use_: "x".into(),
            options: deps
                .iter()
                .map(|d| ("authenticator_name".to_owned(), (*d).to_owned()))
                .collect(),
            origin: String::new(),
            option_origins: Vec::new(),
        }
    }

    #[test]
    fn dependencies_come_first() {
        let specs = vec![spec("cache", &["ldap"]), spec("ldap", &[]), spec("x", &[])];
        let order: Vec<&str> = dependency_order(&specs)
            .iter()
            .map(|s| specs[s.index].id.as_str())
            .collect();
        assert_eq!(order, ["ldap", "cache", "x"]);
    }

    #[test]
    fn cycles_are_reported() {
        let specs = vec![spec("a", &["b"]), spec("b", &["a"]), spec("c", &[])];
        let steps = dependency_order(&specs);
        let cyc: Vec<&String> = steps.iter().filter_map(|s| s.cycle.as_ref()).collect();
        assert!(!cyc.is_empty());
        assert!(
            cyc[0].contains("a → b → a") || cyc[0].contains("b → a → b"),
            "{cyc:?}"
        );
        assert_eq!(steps.len(), 3);
    }

    #[test]
    fn ordinary_name_options_are_not_references() {
        let mut tkt = spec("auth_tkt", &[]);
        tkt.options.push(("cookie_name".into(), "auth_tkt".into()));
        tkt.options.push(("header_name".into(), "other".into()));
        let specs = vec![tkt, spec("other", &[])];
        let steps = dependency_order(&specs);
        assert!(steps.iter().all(|s| s.cycle.is_none()));
        let order: Vec<&str> = steps.iter().map(|s| specs[s.index].id.as_str()).collect();
        assert_eq!(order, ["auth_tkt", "other"]);
    }

    #[test]
    fn self_reference_is_a_cycle() {
        let specs = vec![spec("a", &["a"])];
        let steps = dependency_order(&specs);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].cycle.as_deref(), Some("a → a"));
    }

    #[test]
    fn use_spec_forms() {
        let dir = Path::new("/etc/rewho");
        assert_eq!(
            UseSpec::parse("auth_tkt", dir),
            UseSpec {
                target: UseTarget::Short("auth_tkt".into()),
                factory: None
            }
        );
        assert_eq!(
            UseSpec::parse("./plugins/x.so", dir),
            UseSpec {
                target: UseTarget::File(dir.join("./plugins/x.so")),
                factory: None
            }
        );
        assert_eq!(
            UseSpec::parse("/opt/x.so:other", dir),
            UseSpec {
                target: UseTarget::File("/opt/x.so".into()),
                factory: Some("other".into())
            }
        );
        assert_eq!(
            UseSpec::parse("testkit:panicky", dir),
            UseSpec {
                target: UseTarget::Short("testkit".into()),
                factory: Some("panicky".into())
            }
        );
        assert_eq!(
            UseSpec::parse("repoze.who.plugins.htpasswd:make_plugin", dir),
            UseSpec {
                target: UseTarget::Short("htpasswd".into()),
                factory: None
            }
        );
    }
}
