//! Finding and loading plugin libraries (`.so`), with errors a person can act on.
//!
//! Each library is opened with `lib_header_from_path(..).init_root_module()` (not
//! `load_from_file`, which caches one module per *type* and so would hand every library the
//! first one's factories) and is never unloaded: role objects and statics inside it may live
//! as long as the process.
//!
//! # Private copies
//! The host never maps the installed file. It reads it, hashes the bytes (SHA-256), writes
//! them to a fresh private file (a `0700` folder of its own under the temp dir), opens that
//! copy and unlinks it at once (the mapping keeps the inode alive). So overwriting the
//! installed file (`cp new.so plugins/x.so`) never touches the code that runs, and a reload
//! that finds different bytes loads them as a new library, while requests in flight finish on
//! the old one. Libraries are cached by content: a reload of unchanged files reuses them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use sha2::Digest;

use abi_stable::abi_stability::abi_checking::AbiInstability;
use abi_stable::abi_stability::abi_checking::{check_layout_compatibility, AbiInstabilityErrors};
use abi_stable::library::{lib_header_from_path, LibraryError, RootModule};
use abi_stable::type_layout::TLFieldOrFunction;
use abi_stable::StableAbi;
use rewho_plugin_api::abi::{FactoryInfo, PluginModuleRef};

/// Why a plugin library could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file does not exist.
    #[error("plugin library {path} does not exist")]
    Missing {
        /// The file looked for.
        path: PathBuf,
    },
    /// The file exists but the dynamic loader refused it (not a shared library, wrong
    /// architecture, missing dependency).
    #[error("plugin library {path} could not be opened: {reason}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// A shared library without rewho's entry point.
    #[error("{path} is not a rewho plugin: it does not export a rewho plugin module (build it with rewho_plugin_api::export_plugin!)")]
    NotAPlugin {
        /// The file.
        path: PathBuf,
    },
    /// An abi_stable library of another program (its root module is not rewho's).
    #[error("{path} is not a rewho plugin: it is an abi_stable library exporting `{root_module}`, not rewho's plugin module")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// The root module type it exports.
        root_module: String,
    },
    /// Built against an ABI version that cannot work with this host.
    #[error("{path} was built against rewho plugin ABI {found}, but this host speaks ABI {expected}: rebuild the plugin against rewho-plugin-api with ABI {expected}")]
    IncompatibleVersion {
        /// The file.
        path: PathBuf,
        /// The host's plugin-api version.
        expected: String,
        /// The library's plugin-api version.
        found: String,
    },
    /// Built against a plugin-api whose types have a different layout.
    #[error("{path} was built against an incompatible rewho-plugin-api layout: {summary}")]
    IncompatibleLayout {
        /// The file.
        path: PathBuf,
        /// Which types differ and how (a few lines, not the full layout dump).
        summary: String,
    },
    /// Any other abi_stable failure.
    #[error("plugin library {path} failed to initialise: {reason}")]
    Other {
        /// The file.
        path: PathBuf,
        /// The reason.
        reason: String,
    },
}

/// A loaded plugin library: its path and root module. Cheap to copy; never unloaded.
#[derive(Clone, Copy)]
pub struct PluginLibrary {
    path: &'static Path,
    module: PluginModuleRef,
}

impl std::fmt::Debug for PluginLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginLibrary")
            .field("path", &self.path)
            .field("factories", &self.factory_names())
            .finish()
    }
}

/// Loaded libraries by the SHA-256 of their bytes.
fn loaded() -> &'static Mutex<HashMap<[u8; 32], PluginLibrary>> {
    static LOADED: OnceLock<Mutex<HashMap<[u8; 32], PluginLibrary>>> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

impl PluginLibrary {
    /// Opens the library at `path` from a private copy of its current bytes; bytes already
    /// loaded (from any path) return the same library.
    pub fn open(path: &Path) -> Result<PluginLibrary, LoadError> {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_owned());
        let bytes = std::fs::read(&key).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LoadError::Missing {
                path: path.to_owned(),
            },
            _ => LoadError::Open {
                path: path.to_owned(),
                reason: e.to_string(),
            },
        })?;
        let digest: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        let mut cache = loaded().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lib) = cache.get(&digest) {
            return Ok(PluginLibrary {
                path: Box::leak(key.into_boxed_path()),
                module: lib.module,
            });
        }
        let module = load_private_copy(&key, &bytes)?;
        let lib = PluginLibrary {
            path: Box::leak(key.into_boxed_path()),
            module,
        };
        cache.insert(digest, lib);
        Ok(lib)
    }

    /// Wraps a module linked into this binary (built-ins, static linking in tests and benches).
    pub fn from_static(name: &'static str, module: PluginModuleRef) -> PluginLibrary {
        PluginLibrary {
            path: Path::new(name),
            module,
        }
    }

    /// The library's file (or the static name).
    pub fn path(&self) -> &'static Path {
        self.path
    }

    /// The root module.
    pub fn module(&self) -> PluginModuleRef {
        self.module
    }

    /// The factories the library offers, default first.
    pub fn factories(&self) -> &'static [FactoryInfo] {
        self.module.factories().as_slice()
    }

    /// The factory names, default first.
    pub fn factory_names(&self) -> Vec<&'static str> {
        self.factories().iter().map(|f| f.name.as_str()).collect()
    }
}

/// Writes `bytes` to a private file, loads it, and unlinks it (and its folder) again.
fn load_private_copy(path: &Path, bytes: &[u8]) -> Result<PluginModuleRef, LoadError> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nonce: u64 = rand_nonce();
    let dir = std::env::temp_dir().join(format!(
        "rewho-plugin-{}-{n}-{nonce:016x}",
        std::process::id()
    ));
    let io_error = |e: std::io::Error| LoadError::Open {
        path: path.to_owned(),
        reason: format!("cannot make a private copy in {}: {e}", dir.display()),
    };
    // `create` (not `create_all`) fails on an existing name: nobody else's folder is reused.
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(io_error)?;
    let name = path.file_name().unwrap_or_else(|| "plugin.so".as_ref());
    let copy = dir.join(name);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o500)
        .open(&copy)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_data()));
    let result = written
        .map_err(io_error)
        .and_then(|()| load_module(&copy).map_err(|e| e.with_path(path)));
    let _ = std::fs::remove_file(&copy);
    let _ = std::fs::remove_dir(&dir);
    result
}

/// A nonce for private folder names (not secret: the folder is created exclusively).
fn rand_nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

impl LoadError {
    /// The same error, naming `path` (the installed file) instead of the private copy.
    fn with_path(self, path: &Path) -> LoadError {
        let path = path.to_owned();
        match self {
            LoadError::Missing { .. } => LoadError::Missing { path },
            LoadError::Open { reason, .. } => LoadError::Open { path, reason },
            LoadError::NotAPlugin { .. } => LoadError::NotAPlugin { path },
            LoadError::Foreign { root_module, .. } => LoadError::Foreign { path, root_module },
            LoadError::IncompatibleVersion {
                expected, found, ..
            } => LoadError::IncompatibleVersion {
                path,
                expected,
                found,
            },
            LoadError::IncompatibleLayout { summary, .. } => {
                LoadError::IncompatibleLayout { path, summary }
            }
            LoadError::Other { reason, .. } => LoadError::Other { path, reason },
        }
    }
}

fn load_module(path: &Path) -> Result<PluginModuleRef, LoadError> {
    let header = lib_header_from_path(path).map_err(|e| match e {
        LibraryError::OpenError { err, .. } => LoadError::Open {
            path: path.to_owned(),
            reason: err.to_string(),
        },
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin {
            path: path.to_owned(),
        },
        other => LoadError::Other {
            path: path.to_owned(),
            reason: first_line(&other.to_string()),
        },
    })?;
    // Check the layout ourselves first: abi_stable's own error is a formatted dump of every
    // type involved (hundreds of lines); ours names the types that differ.
    if let Some(found) = header.layout() {
        let expected = <PluginModuleRef as StableAbi>::LAYOUT;
        if found.full_type().name() != expected.full_type().name()
            || found.mod_path() != expected.mod_path()
        {
            return Err(LoadError::Foreign {
                path: path.to_owned(),
                root_module: format!("{}", found.full_type()),
            });
        }
        if let Err(errs) = check_layout_compatibility(expected, found) {
            let versions = header.version_strings();
            let host_version = <PluginModuleRef as RootModule>::VERSION_STRINGS;
            if versions.version != host_version.version {
                return Err(LoadError::IncompatibleVersion {
                    path: path.to_owned(),
                    expected: host_version.version.to_string(),
                    found: versions.version.to_string(),
                });
            }
            return Err(LoadError::IncompatibleLayout {
                path: path.to_owned(),
                summary: summarize_layout_errors(&errs),
            });
        }
    }
    header
        .init_root_module::<PluginModuleRef>()
        .map_err(|e| match e {
            LibraryError::IncompatibleVersionNumber {
                expected_version,
                actual_version,
                ..
            } => LoadError::IncompatibleVersion {
                path: path.to_owned(),
                expected: expected_version.to_string(),
                found: actual_version.to_string(),
            },
            LibraryError::AbiInstability(_) => LoadError::IncompatibleLayout {
                path: path.to_owned(),
                summary: "the plugin module's types differ from this host's".into(),
            },
            other => LoadError::Other {
                path: path.to_owned(),
                reason: first_line(&other.to_string()),
            },
        })
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

/// One line per type that differs: what differs, and the last few named steps of the path
/// from the root module to it (not abi_stable's full layout dump).
fn summarize_layout_errors(errs: &AbiInstabilityErrors) -> String {
    let mut by_type: Vec<(String, Vec<String>, String)> = Vec::new();
    for err in errs.errors.iter().filter(|e| !e.errs.is_empty()) {
        let steps: Vec<String> = err
            .stack_trace
            .iter()
            .filter_map(|step| match &step.expected {
                TLFieldOrFunction::Field(f) => {
                    let name = f.name();
                    let plumbing = name.is_empty()
                        || name.bytes().all(|b| b.is_ascii_digit())
                        || matches!(name, "data" | "obj" | "vtable" | "field_0" | "__returns");
                    (!plumbing).then(|| name.trim_end_matches(',').to_owned())
                }
                TLFieldOrFunction::Function(func) => Some(format!("fn {}", func.name)),
            })
            .collect();
        let path = steps[steps.len().saturating_sub(3)..].join(" → ");
        let ty = err
            .stack_trace
            .last()
            .and_then(|step| match &step.expected {
                TLFieldOrFunction::Field(f) => Some(f.layout().full_type().to_string()),
                TLFieldOrFunction::Function(_) => None,
            })
            .unwrap_or_else(|| "PluginModule".to_owned());
        let what: Vec<String> = err.errs.iter().map(describe).collect();
        match by_type.iter_mut().find(|(t, _, _)| *t == ty) {
            Some((_, list, _)) => list.extend(what),
            None => by_type.push((ty, what, path)),
        }
    }
    if by_type.is_empty() {
        return "the root module's layout differs".to_owned();
    }
    by_type
        .into_iter()
        .take(3)
        .map(|(ty, mut what, path)| {
            what.dedup();
            what.truncate(3);
            if path.is_empty() {
                format!("type `{ty}` differs: {}", what.join("; "))
            } else {
                format!(
                    "type `{ty}` differs: {} (reached via {path})",
                    what.join("; ")
                )
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe(e: &AbiInstability) -> String {
    use AbiInstability as AI;
    fn ef<T: std::fmt::Debug>(
        what: &str,
        v: &abi_stable::abi_stability::abi_checking::ExpectedFound<T>,
    ) -> String {
        format!(
            "{what} {:?} in the host, {:?} in the plugin",
            v.expected, v.found
        )
    }
    match e {
        AI::Size(v) => ef("size in bytes", v),
        AI::Alignment(v) => ef("alignment", v),
        AI::FieldCountMismatch(v) => ef("field count", v),
        AI::TooManyVariants(v) => ef("variant count", v),
        AI::Name(v) => format!(
            "type `{}` in the host, `{}` in the plugin",
            v.expected, v.found
        ),
        AI::UnexpectedField(v) => format!(
            "field `{}` in the host, `{}` in the plugin",
            v.expected.name(),
            v.found.name()
        ),
        AI::PackageVersion(v) => format!(
            "package version {} in the host, {} in the plugin",
            v.expected, v.found
        ),
        other => {
            let mut s = format!("{other:?}");
            s.truncate(160);
            s
        }
    }
}

/// Where short plugin names (`use = auth_tkt`) are looked up, in order.
#[derive(Debug, Clone, Default)]
pub struct PluginPath {
    dirs: Vec<PathBuf>,
}

impl PluginPath {
    /// `[general] plugin_path`, then `REWHO_PLUGIN_PATH`, then the defaults: the folder of the
    /// running executable (and its parent when that is cargo's `deps/`), then the workspace's
    /// own `target/{debug,release}` so a checkout finds its freshly built plugins.
    pub fn new(configured: &[PathBuf]) -> PluginPath {
        let mut dirs: Vec<PathBuf> = configured.to_vec();
        if let Some(env) = std::env::var_os("REWHO_PLUGIN_PATH") {
            dirs.extend(std::env::split_paths(&env).filter(|p| !p.as_os_str().is_empty()));
        }
        if let Ok(exe) = std::env::current_exe() {
            if let Some(dir) = exe.parent() {
                dirs.push(dir.to_owned());
                if dir.file_name().is_some_and(|n| n == "deps") {
                    if let Some(parent) = dir.parent() {
                        dirs.push(parent.to_owned());
                    }
                }
            }
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target"));
        let profile_first = if cfg!(debug_assertions) {
            ["debug", "release"]
        } else {
            ["release", "debug"]
        };
        for p in profile_first {
            dirs.push(target.join(p));
        }
        let mut seen = std::collections::HashSet::new();
        dirs.retain(|d| seen.insert(d.clone()));
        PluginPath { dirs }
    }

    /// The folders searched, in order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The file names a short name may have: `librewho_plugin_NAME.so` (what cargo builds),
    /// `rewho_plugin_NAME.so`, `libNAME.so`, `NAME.so`.
    pub fn candidates(name: &str) -> Vec<String> {
        let n = name.replace('-', "_");
        let ext = std::env::consts::DLL_EXTENSION;
        let pre = std::env::consts::DLL_PREFIX;
        vec![
            format!("{pre}rewho_plugin_{n}.{ext}"),
            format!("rewho_plugin_{n}.{ext}"),
            format!("{pre}{n}.{ext}"),
            format!("{n}.{ext}"),
        ]
    }

    /// The first existing file for `name`.
    pub fn find(&self, name: &str) -> Option<PathBuf> {
        let candidates = Self::candidates(name);
        self.dirs
            .iter()
            .find_map(|dir| candidates.iter().map(|c| dir.join(c)).find(|p| p.is_file()))
    }
}
