//! The on-disk side: the user file's bytes, atomic writes, and the folder lock.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of user files and the lock file.
pub(crate) const FILE_MODE: u32 = 0o600;
/// Mode of a credentials folder rewho creates.
pub(crate) const DIR_MODE: u32 = 0o700;
/// The lock file mutations hold (`flock`) so that rewho processes take turns.
pub(crate) const LOCK_NAME: &str = ".rewho-creds.lock";
/// User files larger than this are refused as corrupt rather than read into memory.
pub(crate) const MAX_FILE_LEN: u64 = 64 * 1024;

/// The bytes fixie-creds writes for a user: `json.dump(data, f, sort_keys=True,
/// separators=(',', ':'))`, with Python's default `ensure_ascii=True` (every character
/// outside printable ASCII as a `\uXXXX` escape).
pub(crate) fn record_bytes(user: &str, email: &str, hashed_token: &str) -> Vec<u8> {
    let mut s = String::with_capacity(96 + user.len() + email.len());
    s.push_str("{\"email\":");
    py_json_str(&mut s, email);
    s.push_str(",\"hashed_token\":");
    py_json_str(&mut s, hashed_token);
    s.push_str(",\"user\":");
    py_json_str(&mut s, user);
    s.push('}');
    s.into_bytes()
}

/// Appends `value` as Python's `json` module writes a string with `ensure_ascii=True`.
fn py_json_str(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// What identifies one version of a file: a rewrite by rename changes the inode, one in
/// place (as fixie-creds does it) changes the size or a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    pub(crate) fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// Writes `bytes` to a new hidden temp file in `dir` (mode 0600, flushed to disk) and returns
/// its path. The name never ends in `.json`, so it cannot be taken for a user.
pub(crate) fn write_temp(dir: &Path, bytes: &[u8]) -> io::Result<TempFile> {
    loop {
        let name = format!(
            ".creds-{}-{:016x}.tmp",
            std::process::id(),
            rand::random::<u64>()
        );
        let path = dir.join(name);
        let mut file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let temp = TempFile { path };
        file.set_permissions(Permissions::from_mode(FILE_MODE))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        return Ok(temp);
    }
}

/// A temp file, removed on drop unless it was renamed away.
pub(crate) struct TempFile {
    path: PathBuf,
}

impl TempFile {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Creates `target` with the temp file's content only if `target` does not exist, atomically:
/// readers see no file or the whole file, and of several racing processes exactly one wins.
/// `Ok(false)` when `target` already exists.
pub(crate) fn publish_new(temp: TempFile, target: &Path) -> io::Result<bool> {
    match fs::hard_link(temp.path(), target) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        // A file system without hard links: the folder lock (held by every rewho writer)
        // keeps check-then-rename safe among rewho processes.
        Err(e) if is_unsupported(&e) => {
            if fs::symlink_metadata(target).is_ok() {
                return Ok(false);
            }
            publish_replace(temp, target)?;
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM) | Some(libc::EOPNOTSUPP) | Some(libc::EXDEV) | Some(libc::EMLINK)
    )
}

/// Replaces (or creates) `target` with the temp file's content by `rename`: atomic for
/// readers.
pub(crate) fn publish_replace(temp: TempFile, target: &Path) -> io::Result<()> {
    fs::rename(temp.path(), target)?;
    std::mem::forget(temp);
    Ok(())
}

/// Flushes `dir`'s entries (a rename or unlink inside it) to disk.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An exclusive `flock` on the folder's lock file, released on drop (or when the process
/// dies, so a crash never leaves the folder locked).
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> io::Result<DirLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(dir.join(LOCK_NAME))?;
        flock_exclusive(&file)?;
        Ok(DirLock { _file: file })
    }
}

#[allow(unsafe_code)]
fn flock_exclusive(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: flock(2) on a descriptor we own for the duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_compact_sorted_ascii_json_like_python() {
        // json.dumps({"user": "o'neil", "email": "é\"x\\\n\u{1f600}", "hashed_token": "ab"},
        //            sort_keys=True, separators=(',', ':'))
        let got = record_bytes("o'neil", "é\"x\\\n\u{1f600}\u{7f}", "ab");
        assert_eq!(
            String::from_utf8(got).unwrap(),
            r#"{"email":"\u00e9\"x\\\n\ud83d\ude00\u007f","hashed_token":"ab","user":"o'neil"}"#
        );
    }
}
