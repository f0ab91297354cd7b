//! An htpasswd file read into memory: `user:hash` lines, with a warning for each line that
//! cannot be used.

use std::collections::HashMap;

use crate::verify::{CheckMode, Scheme};

/// The users of one htpasswd file. `Debug` shows only counts: hashes stay out of logs.
#[derive(Default, Clone)]
pub struct Db {
    users: HashMap<String, String>,
    /// What unknown users are checked against (see [`Db::lookup`]).
    dummy: Option<String>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("users", &self.users.len())
            .finish()
    }
}

/// Python's `str.rstrip()` whitespace (ASCII part).
fn rstrip(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0b' | b'\x0c'))
        .map_or(0, |i| i + 1);
    &line[..end]
}

impl Db {
    /// Reads a file's content. Returns the users and one warning per unusable line (each
    /// naming its 1-based line number; never a hash).
    ///
    /// - Blank lines and `#` comments are skipped silently, as Apache does.
    /// - A line is split at its first `:`. In [`CheckMode::Auto`] the hash ends at the next
    ///   `:` (Apache ignores further fields); in [`CheckMode::Plain`] it is the rest of the
    ///   line (a plain password may hold `:`, as repoze.who's `plain_check` allows). Trailing
    ///   whitespace is dropped, as repoze.who's `rstrip()` does.
    /// - A user listed twice keeps the later line, as repoze.who does.
    pub fn parse(content: &[u8], mode: CheckMode) -> (Db, Vec<String>) {
        let mut warnings = Vec::new();
        let mut users: HashMap<String, String> = HashMap::new();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        // The slowest entry so far: (its estimated cost, its hash).
        let mut slowest: Option<(u64, String)> = None;
        for (index, raw) in content.split(|&b| b == b'\n').enumerate() {
            let n = index + 1;
            let line = rstrip(raw);
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let Ok(line) = std::str::from_utf8(line) else {
                warnings.push(format!("line {n}: not valid UTF-8; skipped"));
                continue;
            };
            let Some((user, rest)) = line.split_once(':') else {
                warnings.push(format!(
                    "line {n}: no ':' between user name and password; skipped"
                ));
                continue;
            };
            if user.is_empty() {
                warnings.push(format!("line {n}: empty user name; skipped"));
                continue;
            }
            let hash = match mode {
                CheckMode::Auto => rest.split(':').next().unwrap_or(rest),
                CheckMode::Plain => rest,
            };
            let scheme = Scheme::of(hash, mode);
            if scheme == Scheme::Unknown {
                warnings.push(format!(
                    "line {n}: user {user:?} has an unrecognised password hash (a plain-text \
                     password needs check_fn = plain); that user cannot log in"
                ));
            }
            if let Some(first) = first_line.get(user) {
                warnings.push(format!(
                    "line {n}: user {user:?} is listed again (first at line {first}); the later \
                     line wins"
                ));
            } else {
                first_line.insert(user.to_owned(), n);
            }
            let cost = scheme.estimated_nanos(hash);
            if scheme != Scheme::Unknown && slowest.as_ref().is_none_or(|(c, _)| cost > *c) {
                slowest = Some((cost, hash.to_owned()));
            }
            users.insert(user.to_owned(), hash.to_owned());
        }
        // Unknown users are checked against the slowest entry, so they cost at least what a
        // wrong password for any known user costs (a mixed {SHA}/bcrypt file must not answer
        // unknown users in microseconds).
        let dummy = slowest.map(|(_, hash)| hash);
        (Db { users, dummy }, warnings)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// `true` when there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The hash to check `login`'s password against, and whether `login` exists. For an
    /// unknown user this is the file's slowest entry's hash, whose result
    /// the caller must ignore: the check then costs what a wrong password costs.
    pub fn lookup(&self, login: &str) -> (Option<&str>, bool) {
        match self.users.get(login) {
            Some(hash) => (Some(hash.as_str()), true),
            None => (self.dummy.as_deref(), false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_and_warns_with_line_numbers() {
        let content = b"# comment\n\
alice:$apr1$eLghtufl$peQflIt5slNUGnxHOUDWN0\r\n\
\n\
garbage line\n\
:$apr1$x$y\n\
bob:$2y$05$4556BQCqyLabR0WckoqQuOunWEZTA4U6bT5vRogaLlMAmddCcksqa:comment  \n\
carol:plaintext\n\
alice:$apr1$2$again\n\
\xff\xfe:bad\n";
        let (db, warnings) = Db::parse(content, CheckMode::Auto);
        assert_eq!(db.len(), 3);
        assert_eq!(db.lookup("alice"), (Some("$apr1$2$again"), true));
        assert_eq!(
            db.lookup("bob"),
            (
                Some("$2y$05$4556BQCqyLabR0WckoqQuOunWEZTA4U6bT5vRogaLlMAmddCcksqa"),
                true
            )
        );
        let (dummy, known) = db.lookup("nobody");
        assert!(!known);
        assert!(
            dummy.unwrap().starts_with("$2y$05$"),
            "the slowest kind, not the commonest"
        );
        let lines: Vec<&str> = warnings
            .iter()
            .map(|w| w.split(':').next().unwrap())
            .collect();
        assert_eq!(lines, ["line 4", "line 5", "line 7", "line 8", "line 9"]);
        assert!(warnings
            .iter()
            .all(|w| !w.contains("peQfl") && !w.contains("plaintext")));
        assert!(!format!("{db:?}").contains("apr1"));
    }

    #[test]
    fn plain_mode_keeps_colons() {
        let (db, warnings) = Db::parse(b"alice:p\xc3\xa4ss:x y \n", CheckMode::Plain);
        assert!(warnings.is_empty());
        assert_eq!(db.lookup("alice"), (Some("päss:x y"), true));
        let (db, _) = Db::parse(b"", CheckMode::Plain);
        assert_eq!(db.lookup("x"), (None, false));
    }
}
