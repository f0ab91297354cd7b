//! Which user names may become file names, and how Python quotes them in messages.

/// The longest user name, in bytes: `<user>.json` must fit in one 255-byte file name.
pub const MAX_USER_LEN: usize = 250;

/// Why a user name is refused. fixie-creds joins any name onto the folder, so `../x` or
/// `/etc/x` would read and write outside it; rewho refuses those before touching the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidUser {
    /// The empty string.
    Empty,
    /// `.` or `..`.
    DotName,
    /// Contains `/` or `\`.
    Separator,
    /// Contains NUL or another control character, a line or paragraph separator, or an
    /// invisible formatting character (bidirectional overrides, zero-width spaces), or
    /// whitespace other than the plain space.
    Unprintable,
    /// Longer than [`MAX_USER_LEN`] bytes.
    TooLong,
}

impl std::fmt::Display for InvalidUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InvalidUser::Empty => "it is empty",
            InvalidUser::DotName => "`.` and `..` are not user names",
            InvalidUser::Separator => "it contains a path separator (`/` or `\\`)",
            InvalidUser::Unprintable => {
                "it contains a control, formatting or non-space whitespace character"
            }
            InvalidUser::TooLong => "it is longer than 250 bytes",
        })
    }
}

/// Checks that `user` names a file directly inside the credentials folder.
pub fn validate_user(user: &str) -> Result<(), InvalidUser> {
    if user.is_empty() {
        Err(InvalidUser::Empty)
    } else if user == "." || user == ".." {
        Err(InvalidUser::DotName)
    } else if user.contains(['/', '\\']) {
        Err(InvalidUser::Separator)
    } else if user.chars().any(|c| c != ' ' && !py_printable(c)) {
        Err(InvalidUser::Unprintable)
    } else if user.len() > MAX_USER_LEN {
        Err(InvalidUser::TooLong)
    } else {
        Ok(())
    }
}

/// An approximation of Python's `str.isprintable` for one character: false for control
/// characters, whitespace (the space is printable in Python and handled by callers),
/// invisible format characters, private-use characters and noncharacters.
fn py_printable(c: char) -> bool {
    let u = u32::from(c);
    !(c.is_control()
        || c.is_whitespace()
        || matches!(
            u,
            0xAD | 0x600..=0x605
                | 0x61C
                | 0x6DD
                | 0x70F
                | 0x890..=0x891
                | 0x8E2
                | 0x180E
                | 0x200B..=0x200F
                | 0x2028..=0x202E
                | 0x2060..=0x206F
                | 0xD800..=0xF8FF
                | 0xFDD0..=0xFDEF
                | 0xFEFF
                | 0xFFF0..=0xFFFB
                | 0xF0000..
        )
        || u & 0xFFFE == 0xFFFE)
}

/// Python's `repr(s)` for a `str`, as fixie-creds' messages use it (`{0!r}`): single quotes
/// unless the text holds `'` and no `"`, with Python's escapes. Exact for every name
/// [`validate_user`] accepts; other names get Python's escape forms on a best-effort basis.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            ' ' => out.push(' '),
            c if py_printable(c) => out.push(c),
            c => {
                let u = u32::from(c);
                if u <= 0xFF {
                    out.push_str(&format!("\\x{u:02x}"));
                } else if u <= 0xFFFF {
                    out.push_str(&format!("\\u{u:04x}"));
                } else {
                    out.push_str(&format!("\\U{u:08x}"));
                }
            }
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_escape_or_confuse_are_refused() {
        for (name, why) in [
            ("", InvalidUser::Empty),
            (".", InvalidUser::DotName),
            ("..", InvalidUser::DotName),
            ("../x", InvalidUser::Separator),
            ("/etc/passwd", InvalidUser::Separator),
            ("a/b", InvalidUser::Separator),
            ("a\\b", InvalidUser::Separator),
            ("a\0b", InvalidUser::Unprintable),
            ("a\nb", InvalidUser::Unprintable),
            ("a\tb", InvalidUser::Unprintable),
            ("a\u{202e}b", InvalidUser::Unprintable),
            ("a\u{200b}b", InvalidUser::Unprintable),
            ("a\u{a0}b", InvalidUser::Unprintable),
        ] {
            assert_eq!(validate_user(name), Err(why), "{name:?}");
        }
        assert_eq!(
            validate_user(&"a".repeat(MAX_USER_LEN + 1)),
            Err(InvalidUser::TooLong)
        );
        for ok in [
            "alice",
            "o'neil",
            "a b",
            "...",
            ".hidden",
            "é",
            "用户",
            "x.json",
            &"a".repeat(MAX_USER_LEN),
        ] {
            assert_eq!(validate_user(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn repr_matches_python() {
        // Expected values are Python 3's repr().
        assert_eq!(py_repr("alice"), "'alice'");
        assert_eq!(py_repr("o'neil"), "\"o'neil\"");
        assert_eq!(py_repr("a\"b"), "'a\"b'");
        assert_eq!(py_repr("a'\"b"), "'a\\'\"b'");
        assert_eq!(py_repr("é用户"), "'é用户'");
        assert_eq!(py_repr("a\\b"), "'a\\\\b'");
        assert_eq!(py_repr("a\nb\0"), "'a\\nb\\x00'");
        assert_eq!(py_repr("\u{7f}\u{a0}\u{202e}"), "'\\x7f\\xa0\\u202e'");
        assert_eq!(py_repr("\u{f0000}"), "'\\U000f0000'");
    }
}
