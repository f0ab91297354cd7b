//! The credentials folder: fixie-creds' `Cache`, with the same files, answers and messages,
//! made safe for several processes.
//!
//! A folder holds one file per user, `<user>.json`, containing
//! `{"email":…,"hashed_token":…,"user":…}` (compact, sorted keys, ASCII-only, exactly the
//! bytes Python's fixie-creds writes). Tokens are never stored, only their hash (see
//! [`hash_token`]). A folder written by fixie-creds works unchanged, and the other way round.
//!
//! # Example
//! ```
//! use rewho_plugin_creds::store::{CredsStore, RegisterOutcome, StoreOptions, VerifyOutcome};
//!
//! let dir = tempfile::tempdir()?;
//! let store = CredsStore::open(dir.path().join("creds"), StoreOptions::create())?;
//! let RegisterOutcome::Registered { token, .. } = store.register("alice", "a@example.org")? else {
//!     unreachable!()
//! };
//! let outcome = store.verify("alice", token.as_str())?;
//! assert!(outcome.verified());
//! assert_eq!(outcome.message(), "User verified");
//! assert_eq!(
//!     store.register("alice", "a@example.org")?.message(),
//!     "User 'alice' already registered"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Outcomes and errors
//! Each operation returns `Ok(outcome)` for every answer fixie-creds gives (including the
//! negative ones: not registered, wrong token, wrong email), with the seed's `message()` and
//! `status()` flag, and `Err(`[`StoreError`]`)` where Python would raise: an unreadable or
//! corrupt file (named in the error), an I/O failure, and (ours) an invalid user name.
//!
//! # Differences from fixie-creds
//! - **User names** that could leave the folder or confuse it (`../x`, `a/b`, `a\b`, NUL and
//!   other control characters, empty, `.`, `..`) are refused with
//!   [`StoreErrorKind::InvalidUser`] before any file is touched; see [`validate_user`].
//! - **Tokens** come from the OS CSPRNG (fixie-creds uses Python's seedable Mersenne
//!   Twister) and always have `2 * nbytes` digits. Comparison is constant-time.
//! - **Malformed tokens** (not hex, too large) verify as an invalid token instead of raising.
//! - **Writes are atomic**: a temp file in the folder (mode 0600, `fsync`ed), then `link`
//!   (register: create-if-absent, so of several racing processes exactly one wins) or
//!   `rename` (reset: the user never disappears in between), then an `fsync` of the folder.
//!   Readers see the old file or the new one, never a torn one. A folder rewho creates is
//!   0700.
//! - **Mutations take turns**: register, reset, deregister and remove hold an exclusive
//!   `flock` on `.rewho-creds.lock` in the folder, so a reset and a deregister of the same
//!   user cannot interleave. Verification takes no lock.
//! - **The cache** is checked against the file on every read (device, inode, size, times),
//!   so changes by other processes, including fixie-creds itself, are seen at once;
//!   fixie-creds trusts its cache forever. A file changed in the last 3 seconds is not
//!   cached at all, so an in-place rewrite within one timestamp tick cannot go unnoticed.
//! - A file whose `user` field names another user is corrupt (fixie-creds would file it
//!   under that other user). `remove_user` of an unknown user is a
//!   [`RemoveOutcome::NotRegistered`] (fixie-creds raises `KeyError`).

mod error;
mod file;
mod names;
mod token;

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Deserialize;

pub use error::{StoreError, StoreErrorKind};
pub use names::{py_repr, validate_user, InvalidUser, MAX_USER_LEN};
pub use token::{hash_token, Token, MAX_TOKEN_LEN};

use file::{DirLock, Stamp};

/// The token size fixie-creds uses: 20 bytes, 40 hex digits.
pub const DEFAULT_NBYTES: usize = 20;

/// The largest `nbytes` accepted.
pub const MAX_NBYTES: usize = 64;

/// The environment variable naming the folder when no option does.
pub const CREDS_DIR_ENV: &str = "REWHO_CREDS_DIR";

/// The message fixie-creds gives for a wrong e-mail address on reset.
pub const EMAIL_MISMATCH: &str = "User email does not match registered email address";

/// The folder named by `$REWHO_CREDS_DIR` (a leading `~/` is the home folder), if set and
/// not empty.
pub fn creds_dir_from_env() -> Option<PathBuf> {
    let v = std::env::var_os(CREDS_DIR_ENV).filter(|v| !v.is_empty())?;
    let p = PathBuf::from(v);
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => Some(PathBuf::from(home).join(rest)),
        _ => Some(p),
    }
}

/// How to open a [`CredsStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Token size in bytes (fixie-creds' `nbytes`), 1 to [`MAX_NBYTES`]. Verification uses it
    /// too: a folder must be read with the `nbytes` it was written with.
    pub nbytes: usize,
    /// Create the folder (and its parents) with mode 0700 when it is missing; otherwise a
    /// missing folder is an error.
    pub create: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            nbytes: DEFAULT_NBYTES,
            create: false,
        }
    }
}

impl StoreOptions {
    /// The defaults, creating the folder if it is missing.
    pub fn create() -> Self {
        StoreOptions {
            create: true,
            ..Self::default()
        }
    }
}

/// One user's record, as stored (`User` in fixie-creds).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserRecord {
    /// The user name.
    pub user: String,
    /// The e-mail address given at registration.
    pub email: String,
    /// SHA-256 hex of the token (see [`hash_token`]).
    pub hashed_token: String,
}

/// How recently a file may have changed and still be cached: beyond any file system's
/// timestamp granularity (FAT's is 2 s).
const RACY_MARGIN: std::time::Duration = std::time::Duration::from_secs(3);

/// A user's record and its stored digest, decoded.
type Loaded = (Arc<UserRecord>, [u8; 32]);

struct Cached {
    stamp: Stamp,
    record: Arc<UserRecord>,
    digest: [u8; 32],
}

/// A credentials folder. Cheap to share: every method takes `&self` and it is `Sync`.
pub struct CredsStore {
    dir: PathBuf,
    nbytes: usize,
    cache: RwLock<HashMap<String, Cached>>,
}

impl std::fmt::Debug for CredsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredsStore")
            .field("dir", &self.dir)
            .field("nbytes", &self.nbytes)
            .finish_non_exhaustive()
    }
}

/// The answer to [`CredsStore::register`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterOutcome {
    /// The user was registered; `token` is shown to nobody else and stored only as a hash.
    Registered {
        /// The user name.
        user: String,
        /// The new token.
        token: Token,
    },
    /// A file for the user already exists.
    AlreadyRegistered {
        /// The user name.
        user: String,
    },
}

impl RegisterOutcome {
    /// The new token, if one was issued.
    pub fn token(&self) -> Option<&Token> {
        match self {
            RegisterOutcome::Registered { token, .. } => Some(token),
            _ => None,
        }
    }

    /// fixie-creds' flag: whether the registration happened.
    pub fn status(&self) -> bool {
        matches!(self, RegisterOutcome::Registered { .. })
    }

    /// fixie-creds' first value: the token on success, `User 'NAME' already registered`
    /// otherwise. Contains the token: never log it.
    pub fn message(&self) -> String {
        match self {
            RegisterOutcome::Registered { token, .. } => token.as_str().to_owned(),
            RegisterOutcome::AlreadyRegistered { user } => {
                format!("User {} already registered", py_repr(user))
            }
        }
    }
}

/// The answer to [`CredsStore::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyOutcome {
    /// The token is the user's.
    Verified {
        /// The user name.
        user: String,
    },
    /// The user exists; the token is not theirs (or is not a token at all).
    InvalidToken {
        /// The user name.
        user: String,
    },
    /// No file for the user.
    NotRegistered {
        /// The user name.
        user: String,
    },
}

impl VerifyOutcome {
    /// Whether the user-token pair is valid.
    pub fn verified(&self) -> bool {
        matches!(self, VerifyOutcome::Verified { .. })
    }

    /// fixie-creds' flag: whether verification could be carried out (`false` only when the
    /// user is not registered).
    pub fn status(&self) -> bool {
        !matches!(self, VerifyOutcome::NotRegistered { .. })
    }

    /// `User verified`, `Invalid token for user NAME` or `User 'NAME' not registered`.
    pub fn message(&self) -> String {
        match self {
            VerifyOutcome::Verified { .. } => "User verified".to_owned(),
            VerifyOutcome::InvalidToken { user } => format!("Invalid token for user {user}"),
            VerifyOutcome::NotRegistered { user } => not_registered(user),
        }
    }
}

fn not_registered(user: &str) -> String {
    format!("User {} not registered", py_repr(user))
}

/// The answer to [`CredsStore::deregister`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeregisterOutcome {
    /// The user's file was removed.
    Deregistered {
        /// The user name.
        user: String,
    },
    /// The token is not the user's; nothing changed.
    InvalidToken {
        /// The user name.
        user: String,
    },
    /// No file for the user.
    NotRegistered {
        /// The user name.
        user: String,
    },
}

impl DeregisterOutcome {
    /// fixie-creds' flag: whether the user was deregistered.
    pub fn status(&self) -> bool {
        matches!(self, DeregisterOutcome::Deregistered { .. })
    }

    /// `NAME deregistered`, or the verification's message.
    pub fn message(&self) -> String {
        match self {
            DeregisterOutcome::Deregistered { user } => format!("{user} deregistered"),
            DeregisterOutcome::InvalidToken { user } => format!("Invalid token for user {user}"),
            DeregisterOutcome::NotRegistered { user } => not_registered(user),
        }
    }
}

/// The answer to [`CredsStore::reset`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResetOutcome {
    /// The user has a new token; the old one no longer verifies.
    Reset {
        /// The user name.
        user: String,
        /// The new token.
        token: Token,
    },
    /// The e-mail address is not the registered one; nothing changed.
    EmailMismatch {
        /// The user name.
        user: String,
    },
    /// No file for the user.
    NotRegistered {
        /// The user name.
        user: String,
    },
}

impl ResetOutcome {
    /// The new token, if one was issued.
    pub fn token(&self) -> Option<&Token> {
        match self {
            ResetOutcome::Reset { token, .. } => Some(token),
            _ => None,
        }
    }

    /// fixie-creds' flag: whether a new token was issued.
    pub fn status(&self) -> bool {
        matches!(self, ResetOutcome::Reset { .. })
    }

    /// The new token on success (never log it), else [`EMAIL_MISMATCH`] or
    /// `User 'NAME' not registered`.
    pub fn message(&self) -> String {
        match self {
            ResetOutcome::Reset { token, .. } => token.as_str().to_owned(),
            ResetOutcome::EmailMismatch { .. } => EMAIL_MISMATCH.to_owned(),
            ResetOutcome::NotRegistered { user } => not_registered(user),
        }
    }
}

/// The answer to [`CredsStore::remove_user`] (fixie-creds has no message for it; these are
/// rewho's).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoveOutcome {
    /// The user's file was removed.
    Removed {
        /// The user name.
        user: String,
    },
    /// No file for the user.
    NotRegistered {
        /// The user name.
        user: String,
    },
}

impl RemoveOutcome {
    /// Whether a file was removed.
    pub fn status(&self) -> bool {
        matches!(self, RemoveOutcome::Removed { .. })
    }

    /// `NAME removed` or `User 'NAME' not registered`.
    pub fn message(&self) -> String {
        match self {
            RemoveOutcome::Removed { user } => format!("{user} removed"),
            RemoveOutcome::NotRegistered { user } => not_registered(user),
        }
    }
}

impl CredsStore {
    /// Opens the folder `dir` (creating it with mode 0700 if [`StoreOptions::create`] says
    /// so). Nothing else is read until an operation needs a user.
    pub fn open(dir: impl Into<PathBuf>, options: StoreOptions) -> Result<CredsStore, StoreError> {
        let dir = dir.into();
        if options.nbytes == 0 || options.nbytes > MAX_NBYTES {
            return Err(StoreError::new(
                None,
                StoreErrorKind::Option(format!(
                    "nbytes must be between 1 and {MAX_NBYTES}, not {}",
                    options.nbytes
                )),
            ));
        }
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(StoreError::new(
                    Some(&dir),
                    StoreErrorKind::Folder("not a folder".into()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && options.create => {
                create_dir(&dir)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::new(
                    Some(&dir),
                    StoreErrorKind::Folder(
                        "the credentials folder does not exist (create it with `mkdir -m 700`, \
                         or register a user with `rewho creds register`)"
                            .into(),
                    ),
                ))
            }
            Err(e) => return Err(StoreError::io(&dir, e)),
        }
        Ok(CredsStore {
            dir,
            nbytes: options.nbytes,
            cache: RwLock::new(HashMap::new()),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The token size in bytes.
    pub fn nbytes(&self) -> usize {
        self.nbytes
    }

    /// `<dir>/<user>.json`, once `user` is known to be a safe name.
    pub fn user_cred_file(&self, user: &str) -> Result<PathBuf, StoreError> {
        validate_user(user).map_err(|reason| {
            StoreError::new(
                None,
                StoreErrorKind::InvalidUser {
                    user: user.to_owned(),
                    reason,
                },
            )
        })?;
        Ok(self.dir.join(format!("{user}.json")))
    }

    /// fixie-creds' `hash_token`: lowercase SHA-256 hex of the token's value as `nbytes`
    /// little-endian bytes; `None` for a string that is not such a token.
    pub fn hash_token(&self, token: &str) -> Option<String> {
        hash_token(token, self.nbytes).map(|h| token::to_hex(&h))
    }

    /// Whether the user has a file.
    pub fn user_exists(&self, user: &str) -> Result<bool, StoreError> {
        let path = self.user_cred_file(user)?;
        match std::fs::symlink_metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// The user's record, from the cache when the file has not changed since it was read.
    /// `Ok(None)` when the user has no file.
    pub fn get_user(&self, user: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.load(user)?.map(|(r, _)| UserRecord::clone(&r)))
    }

    /// fixie-creds' `register(user, email)`: a new token, unless the user already has a file.
    pub fn register(&self, user: &str, email: &str) -> Result<RegisterOutcome, StoreError> {
        let path = self.user_cred_file(user)?;
        let _lock = self.lock()?;
        let already = || RegisterOutcome::AlreadyRegistered {
            user: user.to_owned(),
        };
        if std::fs::symlink_metadata(&path).is_ok() {
            return Ok(already());
        }
        let (token, digest) = Token::generate(self.nbytes);
        let bytes = file::record_bytes(user, email, &token::to_hex(&digest));
        let temp = file::write_temp(&self.dir, &bytes).map_err(|e| StoreError::io(&self.dir, e))?;
        let created = file::publish_new(temp, &path).map_err(|e| StoreError::io(&path, e))?;
        self.forget(user);
        if !created {
            return Ok(already());
        }
        file::sync_dir(&self.dir).map_err(|e| StoreError::io(&self.dir, e))?;
        Ok(RegisterOutcome::Registered {
            user: user.to_owned(),
            token,
        })
    }

    /// fixie-creds' `verify(user, token)`.
    pub fn verify(&self, user: &str, token: &str) -> Result<VerifyOutcome, StoreError> {
        // Hash first, so an unknown user costs about as much as a known one.
        let presented = hash_token(token, self.nbytes);
        let user_s = || user.to_owned();
        let Some((_, stored)) = self.load(user)? else {
            return Ok(VerifyOutcome::NotRegistered { user: user_s() });
        };
        let ok = presented.is_some_and(|p| rewho_plugin_api::constant_time_eq(&p, &stored));
        Ok(if ok {
            VerifyOutcome::Verified { user: user_s() }
        } else {
            VerifyOutcome::InvalidToken { user: user_s() }
        })
    }

    /// fixie-creds' `deregister(user, token)`: removes the user if the token is theirs.
    pub fn deregister(&self, user: &str, token: &str) -> Result<DeregisterOutcome, StoreError> {
        let path = self.user_cred_file(user)?;
        let _lock = self.lock()?;
        let user_s = user.to_owned();
        match self.verify(user, token)? {
            VerifyOutcome::Verified { .. } => {}
            VerifyOutcome::InvalidToken { .. } => {
                return Ok(DeregisterOutcome::InvalidToken { user: user_s })
            }
            VerifyOutcome::NotRegistered { .. } => {
                return Ok(DeregisterOutcome::NotRegistered { user: user_s })
            }
        }
        match self.unlink(&path, user)? {
            true => Ok(DeregisterOutcome::Deregistered { user: user_s }),
            false => Ok(DeregisterOutcome::NotRegistered { user: user_s }),
        }
    }

    /// fixie-creds' `reset(user, email)`: a new token for a registered user whose e-mail
    /// matches. The file is replaced atomically (fixie-creds removes, then registers).
    pub fn reset(&self, user: &str, email: &str) -> Result<ResetOutcome, StoreError> {
        let path = self.user_cred_file(user)?;
        let _lock = self.lock()?;
        let user_s = user.to_owned();
        let Some((record, _)) = self.load(user)? else {
            return Ok(ResetOutcome::NotRegistered { user: user_s });
        };
        if record.email != email {
            return Ok(ResetOutcome::EmailMismatch { user: user_s });
        }
        let (token, digest) = Token::generate(self.nbytes);
        self.replace(&path, user, email, &token::to_hex(&digest))?;
        Ok(ResetOutcome::Reset {
            user: user_s,
            token,
        })
    }

    /// fixie-creds' `remove_user(user)`: removes the user's file, without a token.
    pub fn remove_user(&self, user: &str) -> Result<RemoveOutcome, StoreError> {
        let path = self.user_cred_file(user)?;
        let _lock = self.lock()?;
        let user_s = user.to_owned();
        Ok(match self.unlink(&path, user)? {
            true => RemoveOutcome::Removed { user: user_s },
            false => RemoveOutcome::NotRegistered { user: user_s },
        })
    }

    /// fixie-creds' `write_user(user, email, hashed_token)`: writes (or overwrites) a user's
    /// file with a given hash, atomically. For imports and tests; `hashed_token` must be 64
    /// lowercase hex digits.
    pub fn write_user(
        &self,
        user: &str,
        email: &str,
        hashed_token: &str,
    ) -> Result<(), StoreError> {
        let path = self.user_cred_file(user)?;
        if token::parse_digest(hashed_token).is_none() {
            return Err(StoreError::new(
                None,
                StoreErrorKind::Option("hashed_token must be 64 lowercase hex digits".into()),
            ));
        }
        let _lock = self.lock()?;
        self.replace(&path, user, email, hashed_token)
    }

    fn lock(&self) -> Result<DirLock, StoreError> {
        DirLock::acquire(&self.dir).map_err(|e| StoreError::io(&self.dir.join(file::LOCK_NAME), e))
    }

    fn forget(&self, user: &str) {
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(user);
    }

    fn replace(
        &self,
        path: &Path,
        user: &str,
        email: &str,
        hashed: &str,
    ) -> Result<(), StoreError> {
        let bytes = file::record_bytes(user, email, hashed);
        let temp = file::write_temp(&self.dir, &bytes).map_err(|e| StoreError::io(&self.dir, e))?;
        file::publish_replace(temp, path).map_err(|e| StoreError::io(path, e))?;
        self.forget(user);
        file::sync_dir(&self.dir).map_err(|e| StoreError::io(&self.dir, e))
    }

    /// Removes the user's file: `Ok(false)` if there was none.
    fn unlink(&self, path: &Path, user: &str) -> Result<bool, StoreError> {
        let removed = match std::fs::remove_file(path) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(StoreError::io(path, e)),
        };
        self.forget(user);
        if removed {
            file::sync_dir(&self.dir).map_err(|e| StoreError::io(&self.dir, e))?;
        }
        Ok(removed)
    }

    /// The user's record and stored digest; re-read only when the file changed.
    fn load(&self, user: &str) -> Result<Option<Loaded>, StoreError> {
        let path = self.user_cred_file(user)?;
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.forget(user);
                return Ok(None);
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let stamp = Stamp::of(&meta);
        {
            let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = cache.get(user).filter(|c| c.stamp == stamp) {
                return Ok(Some((c.record.clone(), c.digest)));
            }
        }
        // Read through one handle so the stamp cached is that of the bytes parsed.
        let started = std::time::SystemTime::now();
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.forget(user);
                return Ok(None);
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let meta = f.metadata().map_err(|e| StoreError::io(&path, e))?;
        if !meta.is_file() {
            return Err(StoreError::corrupt(&path, "not a regular file"));
        }
        if meta.len() > file::MAX_FILE_LEN {
            return Err(StoreError::corrupt(
                &path,
                format!("larger than {} bytes", file::MAX_FILE_LEN),
            ));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        f.by_ref()
            .take(file::MAX_FILE_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| StoreError::io(&path, e))?;
        let record: UserRecord = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::corrupt(&path, format!("not a credentials record: {e}")))?;
        if record.user != user {
            return Err(StoreError::corrupt(
                &path,
                format!(
                    "it holds user {}, not {}",
                    py_repr(&record.user),
                    py_repr(user)
                ),
            ));
        }
        let digest = token::parse_digest(&record.hashed_token).ok_or_else(|| {
            StoreError::corrupt(&path, "`hashed_token` is not 64 lowercase hex digits")
        })?;
        let record = Arc::new(record);
        // A file changed in place within the timestamp granularity of its last version could
        // keep its stamp (fixie-creds rewrites in place); cache only files older than that,
        // as git does with "racily clean" entries.
        let settled = meta
            .modified()
            .ok()
            .and_then(|m| m.checked_add(RACY_MARGIN))
            .is_some_and(|m| m < started);
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if settled {
            let cached = Cached {
                stamp: Stamp::of(&meta),
                record: record.clone(),
                digest,
            };
            cache.insert(user.to_owned(), cached);
        } else {
            cache.remove(user);
        }
        Ok(Some((record, digest)))
    }
}

/// Creates `dir` and any missing parents with mode 0700 (umask notwithstanding for `dir`).
fn create_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(file::DIR_MODE)
        .create(dir)
        .map_err(|e| StoreError::io(dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(file::DIR_MODE))
        .map_err(|e| StoreError::io(dir, e))
}
