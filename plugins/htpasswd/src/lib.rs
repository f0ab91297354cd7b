//! `htpasswd`: repoze.who's `HTPasswdPlugin`, an authenticator that checks `login` and
//! `password` against an Apache password file.
//!
//! ```ini
//! [plugin:htpasswd]
//! use = htpasswd
//! filename = %(here)s/passwd        ; relative paths are relative to who.ini's folder
//! check_fn = repoze.who.plugins.htpasswd:crypt_check
//! ```
//!
//! `check_fn` (default `auto`) takes repoze.who's names: `…htpasswd:crypt_check`,
//! `…htpasswd:sha1_check` and `bcrypt:checkpw` recognise every format Apache's `htpasswd`
//! writes (see [`verify`]); `…htpasswd:plain_check` (or `plain`) reads the file as plain-text
//! passwords. Any other callable is refused at start-up: rewho cannot run Python.
//!
//! # Behaviour
//! - Returns the login as the user id when the password matches; `Ok(None)` otherwise, and for
//!   identities without `login` and `password`.
//! - An unknown user's password is checked against the file's slowest entry (the highest
//!   bcrypt cost or SHA-crypt rounds, see [`verify::Scheme::estimated_nanos`]), so it takes at
//!   least as long as a wrong password for any user (repoze.who checks a dummy string, which
//!   is fast for bcrypt files and so reveals who exists; the commonest kind would still be
//!   fast in a mostly-`{SHA}` file with a few bcrypt users).
//! - A line that cannot be used (no `:`, empty user name, not UTF-8, unrecognised hash, a
//!   user listed twice) is logged once per load as a warning naming its line; the rest of the
//!   file still works. Never the hash or password.
//! - The file is read at start-up (a missing or unreadable file stops start-up) and read
//!   again when its size, modification time or inode changes; at most one `stat` per second,
//!   from the request that finds the last check older than that. If the file vanishes or
//!   cannot be read, the last good content stays in use and one warning is logged.
//!
//! [`Plugin::DOES_IO`] is `true`: a request may `stat` or read the file, and verifying bcrypt,
//! MD5- or SHA-crypt hashes takes from hundreds of microseconds to many milliseconds. It also
//! [asks before blocking](Plugin::ASKS_BEFORE_BLOCKING): async edges run its chains inline,
//! and only a request that is due to `stat` the file, or checks a slow hash, moves to a
//! blocking thread. `{SHA}`, DES and plain entries are checked inline.
//!
//! # Differences from repoze.who
//! - The file is not re-opened and scanned on every request; the first 1000 lines are not a
//!   limit.
//! - Blank lines and `#` comments are ignored (Apache's convention); in auto mode a hash ends at
//!   the next `:` (Apache ignores further fields).
//! - Usernames are looked up in a hash map rather than compared line by line; the timing that
//!   matters (hash verification) is equalised as described above.
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

pub mod db;
pub mod des_crypt;
pub mod md5_crypt;
pub mod verify;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rewho_plugin_api::{
    Authenticator, Environ, FactoryContext, Host, Identity, Plugin, PluginError, Request, Value,
};
use serde::Deserialize;

use crate::db::Db;
use crate::verify::CheckMode;

/// The error of a call that stopped because the host said not to block (it runs the request
/// again where blocking is fine, and does not log this).
const WOULD_BLOCK: &str = "stopped before blocking, as the host asked";

/// How often, at most, the file's metadata is checked for changes.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// At most this many line warnings are logged per load (then a count of the rest).
const MAX_WARNINGS: usize = 20;

/// Options of the `htpasswd` plugin (repoze.who's `make_plugin` arguments).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The password file.
    filename: String,
    /// How to read the stored passwords.
    check_fn: Option<String>,
}

/// What identifies one version of the file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
    device: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        let (inode, device) = {
            use std::os::unix::fs::MetadataExt;
            (meta.ino(), meta.dev())
        };
        #[cfg(not(unix))]
        let (inode, device) = (0, 0);
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
            device,
        }
    }
}

struct State {
    db: Arc<Db>,
    stamp: Option<Stamp>,
    checked: Instant,
    /// The problem last warned about, so each is logged once.
    warned: Option<String>,
}

/// The plugin.
pub struct HtPasswd {
    path: PathBuf,
    mode: CheckMode,
    host: Host,
    state: RwLock<State>,
    check_interval: Duration,
}

impl std::fmt::Debug for HtPasswd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HtPasswd")
            .field("path", &self.path)
            .field("mode", &self.mode)
            .finish()
    }
}

/// Reads and parses the file, logging its line warnings.
fn load(path: &PathBuf, mode: CheckMode, host: &Host) -> std::io::Result<(Db, Stamp)> {
    let meta = std::fs::metadata(path)?;
    let content = std::fs::read(path)?;
    let (db, warnings) = Db::parse(&content, mode);
    for w in warnings.iter().take(MAX_WARNINGS) {
        host.warn(&format!("{}: {w}", path.display()));
    }
    if warnings.len() > MAX_WARNINGS {
        host.warn(&format!(
            "{}: {} more unusable lines",
            path.display(),
            warnings.len() - MAX_WARNINGS
        ));
    }
    Ok((db, Stamp::of(&meta)))
}

impl HtPasswd {
    /// The current users, re-reading the file first if it changed (checked at most once per
    /// `check_interval`). `None` when a check is due but the host says not to block now.
    fn db(&self) -> Option<Arc<Db>> {
        {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            if state.checked.elapsed() < self.check_interval {
                return Some(state.db.clone());
            }
        }
        if !self.host.may_block() {
            return None;
        }
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state.checked.elapsed() < self.check_interval {
            return Some(state.db.clone());
        }
        state.checked = Instant::now();
        let problem = match std::fs::metadata(&self.path) {
            Ok(meta) if Some(Stamp::of(&meta)) == state.stamp => None,
            Ok(_) => match load(&self.path, self.mode, &self.host) {
                Ok((db, stamp)) => {
                    self.host.info(&format!(
                        "{}: reloaded, {} users",
                        self.path.display(),
                        db.len()
                    ));
                    state.db = Arc::new(db);
                    state.stamp = Some(stamp);
                    None
                }
                Err(e) => Some(format!("cannot read it ({e})")),
            },
            Err(e) => Some(format!("it is gone ({e})")),
        };
        match problem {
            Some(p) => {
                if state.warned.as_deref() != Some(p.as_str()) {
                    self.host.warn(&format!(
                        "{}: {p}; keeping the {} users read before",
                        self.path.display(),
                        state.db.len()
                    ));
                    state.warned = Some(p);
                }
            }
            None => state.warned = None,
        }
        Some(state.db.clone())
    }
}

impl Plugin for HtPasswd {
    type Options = Options;
    const SUMMARY: &'static str =
        "Apache htpasswd file (bcrypt, apr1, SHA-crypt, {SHA}, DES, plain): authenticator";
    const DOES_IO: bool = true;
    const ASKS_BEFORE_BLOCKING: bool = true;

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        let mode = match o.check_fn.as_deref() {
            None => CheckMode::Auto,
            Some(name) => CheckMode::from_check_fn(name).ok_or_else(|| {
                PluginError(format!(
                    "unknown `check_fn` {name:?}: use auto, plain, \
                     repoze.who.plugins.htpasswd:crypt_check / sha1_check / plain_check \
                     or bcrypt:checkpw"
                ))
            })?,
        };
        let filename = o.filename.trim();
        if filename.is_empty() {
            return Err("`filename` must not be empty".into());
        }
        let path = ctx.resolve_path(filename);
        let host = ctx.host();
        let (db, stamp) = load(&path, mode, &host)
            .map_err(|e| PluginError(format!("cannot read {}: {e}", path.display())))?;
        Ok(HtPasswd {
            path,
            mode,
            host,
            state: RwLock::new(State {
                db: Arc::new(db),
                stamp: Some(stamp),
                checked: Instant::now(),
                warned: None,
            }),
            check_interval: CHECK_INTERVAL,
        })
    }
}

// IAuthenticator
impl Authenticator for HtPasswd {
    fn authenticate(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<Option<Value>, PluginError> {
        let (Some(login), Some(password)) =
            (identity.get_str("login"), identity.get_str("password"))
        else {
            return Ok(None);
        };
        let Some(db) = self.db() else {
            return Err(WOULD_BLOCK.into());
        };
        let (hash, known) = db.lookup(login);
        let entry = hash.map(|h| (h, verify::Scheme::of(h, self.mode)));
        if entry.is_some_and(|(_, scheme)| scheme.is_slow()) && !self.host.may_block() {
            return Err(WOULD_BLOCK.into());
        }
        // Check *something* for unknown users too; only a known user's match counts.
        let ok = entry.is_some_and(|(h, scheme)| verify::verify_as(password, h, scheme));
        Ok((ok && known).then(|| Value::from(login)))
    }
}

rewho_plugin_api::export_plugin! {
    "htpasswd" => HtPasswd: [authenticator],
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewho_plugin_api::testing::{environ, headers, request, TestHost};
    use rewho_plugin_api::{LogLevel, Map};

    fn identity(login: &str, password: &str) -> Identity {
        let mut id = Map::new();
        id.insert("login", login);
        id.insert("password", password);
        id
    }

    fn auth(p: &HtPasswd, login: &str, password: &str) -> Option<Value> {
        let h = headers(&[]);
        let req = request("h", "", &h);
        p.authenticate(&req, &mut environ(), &mut identity(login, password))
            .unwrap()
    }

    const APR1: &str = "alice:$apr1$eLghtufl$peQflIt5slNUGnxHOUDWN0\n";

    #[test]
    fn authenticates_and_refuses() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("passwd"), format!("{APR1}bogus\n")).unwrap();
        let t = TestHost::at(0);
        let p = t
            .build::<HtPasswd>(
                &[
                    ("filename", "passwd"),
                    ("check_fn", "repoze.who.plugins.htpasswd:crypt_check"),
                ],
                dir.path().to_str().unwrap(),
            )
            .unwrap();
        assert_eq!(
            auth(&p, "alice", "pässwörd:x y"),
            Some(Value::from("alice"))
        );
        assert_eq!(auth(&p, "alice", "wrong"), None);
        assert_eq!(auth(&p, "nobody", "pässwörd:x y"), None);
        let h = headers(&[]);
        let req = request("h", "", &h);
        let mut no_password = Map::new();
        no_password.insert("login", "alice");
        assert_eq!(
            p.authenticate(&req, &mut environ(), &mut no_password)
                .unwrap(),
            None
        );
        let warnings = t.logs(LogLevel::Warn);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].ends_with("passwd: line 2: no ':' between user name and password; skipped")
        );
    }

    #[test]
    fn options_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let t = TestHost::at(0);
        let e = t
            .build::<HtPasswd>(&[("filename", "missing")], d)
            .unwrap_err();
        assert!(e.0.contains("missing"), "{e}");
        std::fs::write(dir.path().join("p"), APR1).unwrap();
        let e = t
            .build::<HtPasswd>(&[("filename", "p"), ("check_fn", "my.module:check")], d)
            .unwrap_err();
        assert!(e.0.contains("check_fn"), "{e}");
        assert!(t.build::<HtPasswd>(&[], d).is_err());
        assert!(t
            .build::<HtPasswd>(&[("filename", "p"), ("check", "x")], d)
            .is_err());
    }

    #[test]
    fn reloads_changed_files_and_survives_their_loss() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("passwd");
        std::fs::write(&file, "alice:secret\n").unwrap();
        let t = TestHost::at(0);
        let mut p = t
            .build::<HtPasswd>(
                &[("filename", file.to_str().unwrap()), ("check_fn", "plain")],
                "/",
            )
            .unwrap();
        assert_eq!(auth(&p, "alice", "secret"), Some(Value::from("alice")));
        // Within the check interval nothing is re-read.
        std::fs::write(&file, "alice:changed-and-longer\nbob:b\n").unwrap();
        assert_eq!(auth(&p, "alice", "secret"), Some(Value::from("alice")));
        p.check_interval = Duration::ZERO;
        assert_eq!(auth(&p, "alice", "secret"), None);
        assert_eq!(
            auth(&p, "alice", "changed-and-longer"),
            Some(Value::from("alice"))
        );
        assert_eq!(auth(&p, "bob", "b"), Some(Value::from("bob")));
        // Replaced by rename (a new inode).
        let tmp = dir.path().join("passwd.tmp");
        std::fs::write(&tmp, "carol:c\n").unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        assert_eq!(auth(&p, "carol", "c"), Some(Value::from("carol")));
        assert_eq!(auth(&p, "bob", "b"), None);
        // Gone: the last content stays, with one warning.
        std::fs::remove_file(&file).unwrap();
        assert_eq!(auth(&p, "carol", "c"), Some(Value::from("carol")));
        assert_eq!(auth(&p, "carol", "c"), Some(Value::from("carol")));
        let gone: Vec<String> = t
            .logs(LogLevel::Warn)
            .into_iter()
            .filter(|w| w.contains("gone"))
            .collect();
        assert_eq!(gone.len(), 1, "{gone:?}");
        // Back again.
        std::fs::write(&file, "dave:d\n").unwrap();
        assert_eq!(auth(&p, "dave", "d"), Some(Value::from("dave")));
    }
}
