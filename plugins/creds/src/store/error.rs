//! The one error type of the store: what failed, and the file it concerns.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::names::InvalidUser;

/// A store operation that could not be carried out (as opposed to a negative outcome such as
/// a wrong token, which is an `Ok` outcome). It names the file concerned when there is one.
#[derive(Debug)]
pub struct StoreError {
    path: Option<PathBuf>,
    kind: StoreErrorKind,
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// A user name that cannot be a file in the folder (`../x`, empty, …).
    #[error("invalid user name {user:?}: {reason}")]
    InvalidUser {
        /// The name as given.
        user: String,
        /// Why it was refused.
        reason: InvalidUser,
    },
    /// A user file that is not a valid credentials record.
    #[error("corrupt user file: {0}")]
    Corrupt(String),
    /// The folder is missing or not a folder.
    #[error("{0}")]
    Folder(String),
    /// A store option out of range (`nbytes`).
    #[error("{0}")]
    Option(String),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl StoreError {
    pub(crate) fn new(path: Option<&Path>, kind: StoreErrorKind) -> Self {
        StoreError {
            path: path.map(Path::to_path_buf),
            kind,
        }
    }

    pub(crate) fn io(path: &Path, e: io::Error) -> Self {
        Self::new(Some(path), StoreErrorKind::Io(e))
    }

    pub(crate) fn corrupt(path: &Path, why: impl Into<String>) -> Self {
        Self::new(Some(path), StoreErrorKind::Corrupt(why.into()))
    }

    /// The file or folder concerned, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// What went wrong.
    pub fn kind(&self) -> &StoreErrorKind {
        &self.kind
    }

    /// `true` when the caller's input was at fault (an invalid user name), not the store.
    pub fn is_invalid_user(&self) -> bool {
        matches!(self.kind, StoreErrorKind::InvalidUser { .. })
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}: {}", p.display(), self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            StoreErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}
