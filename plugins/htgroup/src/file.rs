//! An Apache group file (`AuthGroupFile`) read into a map from user to groups.

use std::collections::HashMap;

/// The groups of every user in one group file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GroupFile {
    by_user: HashMap<String, Vec<String>>,
    groups: usize,
}

/// A line that cannot be read, with its 1-based number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The line number (1-based).
    pub line: usize,
    /// What is wrong.
    pub message: &'static str,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl GroupFile {
    /// Parses a group file: `group: user1 user2 …` per line, as Apache's
    /// `mod_authz_groupfile` reads it.
    ///
    /// - Blank lines and lines starting with `#` are skipped.
    /// - Members are separated by spaces or tabs; a group may have no members.
    /// - A group on several lines has the members of all of them.
    /// - A line without `:`, with an empty or space-holding group name, or that is not UTF-8
    ///   is an error (the whole file is refused, so a typo cannot silently drop a group).
    pub fn parse(content: &[u8]) -> Result<GroupFile, LineError> {
        let mut file = GroupFile::default();
        let mut names: Vec<&str> = Vec::new();
        for (index, raw) in content.split(|&b| b == b'\n').enumerate() {
            let err = |message| LineError {
                line: index + 1,
                message,
            };
            let line = std::str::from_utf8(raw)
                .map_err(|_| err("not UTF-8"))?
                .trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (group, members) = line
                .split_once(':')
                .ok_or_else(|| err("no `:` after the group name (`group: user1 user2`)"))?;
            let group = group.trim();
            if group.is_empty() {
                return Err(err("empty group name before `:`"));
            }
            if group.contains(char::is_whitespace) {
                return Err(err("a group name cannot hold spaces"));
            }
            if !names.contains(&group) {
                names.push(group);
            }
            for user in members.split_whitespace() {
                let groups = file.by_user.entry(user.to_owned()).or_default();
                if !groups.iter().any(|g| g == group) {
                    groups.push(group.to_owned());
                }
            }
        }
        file.groups = names.len();
        Ok(file)
    }

    /// The groups `user` belongs to, in file order (empty when none).
    pub fn groups_of(&self, user: &str) -> &[String] {
        self.by_user.get(user).map_or(&[], Vec::as_slice)
    }

    /// The number of distinct groups.
    pub fn group_count(&self) -> usize {
        self.groups
    }

    /// The number of users in at least one group.
    pub fn user_count(&self) -> usize {
        self.by_user.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_groups_and_merges_repeated_lines() {
        let f = GroupFile::parse(
            b"# comment\nadmins: alice\tcarol\r\n\nstaff: alice bob\nempty:\nadmins: dave alice\n",
        )
        .unwrap();
        assert_eq!(f.groups_of("alice"), ["admins", "staff"]);
        assert_eq!(f.groups_of("bob"), ["staff"]);
        assert_eq!(f.groups_of("dave"), ["admins"]);
        assert!(f.groups_of("nobody").is_empty());
        assert_eq!((f.group_count(), f.user_count()), (3, 4));
    }

    #[test]
    fn malformed_lines_are_errors_with_their_number() {
        for (text, want) in [
            (
                &b"admins: a\nstaff a b\n"[..],
                "line 2: no `:` after the group name (`group: user1 user2`)",
            ),
            (b": a b", "line 1: empty group name before `:`"),
            (
                b"\n\nmy group: a",
                "line 3: a group name cannot hold spaces",
            ),
            (b"g: \xff", "line 1: not UTF-8"),
        ] {
            assert_eq!(GroupFile::parse(text).unwrap_err().to_string(), want);
        }
    }
}
