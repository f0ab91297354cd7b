//! `htgroup`: a metadata provider that adds the user's groups from an Apache group file
//! (`AuthGroupFile`) to the identity's `groups` list, which the `rules` authorizer's
//! `group:` requirements read.
//!
//! ```ini
//! [plugin:groups]
//! use = htgroup
//! filename = %(here)s/groups     ; relative paths are relative to who.ini's folder
//!
//! [mdproviders]
//! plugins = groups
//! ```
//! The file holds `group: user1 user2 …` lines (blank lines and `#` comments skipped; a group
//! on several lines has the members of all of them).
//!
//! # Behaviour
//! - The user is the identity's user id (a string, or an integer as text). Its groups are
//!   added to `groups`, after any already there (from the `jwt` or `header` plugins, say),
//!   without duplicates. A user in no group leaves the identity unchanged.
//! - The file is read at start-up: a missing file or a malformed line stops start-up with the
//!   file and line. It is read again when its size, modification time or inode changes, with
//!   at most one `stat` per second. A changed file that is malformed or unreadable keeps the
//!   last good groups in use, with one warning naming the line.
//! - [`Plugin::DOES_IO`] and [`Plugin::ASKS_BEFORE_BLOCKING`]: only the request that is due to
//!   `stat` the file asks the host to move it to a blocking thread.
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

pub mod file;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rewho_plugin_api::{
    Environ, FactoryContext, Host, Identity, MetadataProvider, Plugin, PluginError, Request, Value,
    USERID_KEY,
};
use serde::Deserialize;

use crate::file::GroupFile;

/// The identity key the groups go to (a list of strings).
pub const GROUPS_KEY: &str = "groups";

/// How often, at most, the file's metadata is checked for changes.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The error of a call that stopped because the host said not to block now (the host runs
/// the request again on a blocking thread and does not log it).
const WOULD_BLOCK: &str = "stopped before blocking, as the host asked";

/// Options of `use = htgroup`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The group file.
    filename: String,
}

/// What identifies one version of the file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        }
    }
}

struct State {
    groups: Arc<GroupFile>,
    stamp: Stamp,
    checked: Instant,
    /// The problem last warned about, so each is logged once.
    warned: Option<String>,
}

/// The `htgroup` metadata provider.
pub struct HtGroup {
    path: PathBuf,
    host: Host,
    state: RwLock<State>,
    check_interval: Duration,
}

/// Reads and parses the file; the error names the file (and the line).
fn load(path: &PathBuf) -> Result<(GroupFile, Stamp), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let content = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = GroupFile::parse(&content).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((file, Stamp::of(&meta)))
}

impl HtGroup {
    /// The current groups, re-reading the file first if it changed (checked at most once per
    /// `check_interval`). `None` when a check is due but the host says not to block now.
    fn groups(&self) -> Option<Arc<GroupFile>> {
        {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            if state.checked.elapsed() < self.check_interval {
                return Some(state.groups.clone());
            }
        }
        if !self.host.may_block() {
            return None;
        }
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state.checked.elapsed() < self.check_interval {
            return Some(state.groups.clone());
        }
        state.checked = Instant::now();
        let problem = match std::fs::metadata(&self.path) {
            Ok(meta) if Stamp::of(&meta) == state.stamp => None,
            Ok(_) => match load(&self.path) {
                Ok((groups, stamp)) => {
                    self.host.info(&format!(
                        "{}: reloaded, {} groups, {} users",
                        self.path.display(),
                        groups.group_count(),
                        groups.user_count()
                    ));
                    state.groups = Arc::new(groups);
                    state.stamp = stamp;
                    None
                }
                Err(e) => Some(e),
            },
            Err(e) => Some(format!("{}: {e}", self.path.display())),
        };
        match problem {
            Some(p) if state.warned.as_deref() != Some(p.as_str()) => {
                self.host
                    .warn(&format!("{p}; keeping the groups read before"));
                state.warned = Some(p);
            }
            Some(_) => {}
            None => state.warned = None,
        }
        Some(state.groups.clone())
    }
}

impl Plugin for HtGroup {
    type Options = Options;
    const SUMMARY: &'static str = "adds `groups` from an Apache group file (AuthGroupFile)";
    const DOES_IO: bool = true;
    const ASKS_BEFORE_BLOCKING: bool = true;

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        let filename = o.filename.trim();
        if filename.is_empty() {
            return Err("option `filename`: must not be empty".into());
        }
        let path = ctx.resolve_path(filename);
        let (groups, stamp) =
            load(&path).map_err(|e| PluginError(format!("option `filename`: {e}")))?;
        Ok(HtGroup {
            path,
            host: ctx.host(),
            state: RwLock::new(State {
                groups: Arc::new(groups),
                stamp,
                checked: Instant::now(),
                warned: None,
            }),
            check_interval: CHECK_INTERVAL,
        })
    }
}

/// Adds `more` to the identity's `groups` (kept in order, no duplicates). A `groups` that is
/// one string becomes a list holding it; any other non-list value is replaced.
pub fn merge_groups<'g>(identity: &mut Identity, more: impl IntoIterator<Item = &'g str>) {
    let mut list: Vec<Value> = match identity.get(GROUPS_KEY) {
        Some(Value::List(items)) => items.to_vec(),
        Some(Value::Str(s)) => vec![Value::from(s.as_str())],
        _ => Vec::new(),
    };
    let before = list.len();
    for g in more {
        if !list.iter().any(|v| v.as_str() == Some(g)) {
            list.push(Value::from(g));
        }
    }
    if list.len() != before || !matches!(identity.get(GROUPS_KEY), Some(Value::List(_))) {
        identity.insert(GROUPS_KEY, Value::List(list.into_iter().collect()));
    }
}

// IMetadataProvider
impl MetadataProvider for HtGroup {
    fn add_metadata(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<(), PluginError> {
        let user = match identity.get(USERID_KEY) {
            Some(Value::Str(s)) => s.to_string(),
            Some(v @ Value::Int(_)) => v.to_display_string(),
            _ => return Ok(()),
        };
        let Some(file) = self.groups() else {
            return Err(WOULD_BLOCK.into());
        };
        let groups = file.groups_of(&user);
        if !groups.is_empty() {
            merge_groups(identity, groups.iter().map(String::as_str));
        }
        Ok(())
    }
}

rewho_plugin_api::export_plugin! {
    "htgroup" => HtGroup: [mdprovider],
}

#[cfg(test)]
mod tests;
