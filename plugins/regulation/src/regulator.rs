//! The counting rule, apart from the SDK: failures are counted per login and per client
//! address; `max_retries` failures of either within `find_time` seconds ban it for
//! `ban_time` seconds. A success forgets the login's failures (not the address's: an
//! attacker must not clear their address by logging into an account of their own).

use sha2::{Digest, Sha256};

use crate::store::{Store, Unavailable};

/// What one request is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The login name tried.
    Login,
    /// The client address it came from.
    Address,
}

impl Subject {
    /// `login` or `address`, as logs and keys name it.
    pub fn name(self) -> &'static str {
        match self {
            Subject::Login => "login",
            Subject::Address => "address",
        }
    }
}

/// The rule and where it keeps its counts.
pub struct Regulator {
    store: Box<dyn Store>,
    prefix: String,
    /// Failures that ban.
    pub max_retries: u64,
    /// Seconds in which they must happen.
    pub find_time: u32,
    /// Seconds a ban lasts.
    pub ban_time: u32,
}

impl Regulator {
    /// A regulator counting in `store` under keys starting with `prefix`.
    pub fn new(
        store: Box<dyn Store>,
        prefix: String,
        max_retries: u64,
        find_time: u32,
        ban_time: u32,
    ) -> Self {
        Regulator {
            store,
            prefix,
            max_retries,
            find_time,
            ban_time,
        }
    }

    /// `<prefix><what>:<subject>:<hex sha256 of value>`: printable, short, and the same on
    /// every host sharing the store.
    fn key(&self, what: &str, subject: Subject, value: &str) -> String {
        let digest = Sha256::digest(value.as_bytes());
        let mut key = format!("{}{what}:{}:", self.prefix, subject.name());
        for b in digest {
            key.push_str(&format!("{b:02x}"));
        }
        key
    }

    fn subjects<'a>(login: &'a str, addr: &'a str) -> impl Iterator<Item = (Subject, &'a str)> {
        [(Subject::Login, login), (Subject::Address, addr)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
    }

    /// Whether the login or the address is banned now.
    pub fn banned(&self, login: &str, addr: &str) -> Result<bool, Unavailable> {
        for (subject, value) in Self::subjects(login, addr) {
            if self.store.banned(&self.key("ban", subject, value))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Counts a failure of `login` from `addr`; returns what this failure banned (each ban
    /// is reported by exactly one failure: the one that reached `max_retries`).
    pub fn failed(&self, login: &str, addr: &str) -> Result<Vec<Subject>, Unavailable> {
        let mut banned = Vec::new();
        for (subject, value) in Self::subjects(login, addr) {
            let fails = self.key("fail", subject, value);
            let n = self.store.fail(&fails, self.find_time)?;
            if n >= self.max_retries {
                self.store
                    .ban(&self.key("ban", subject, value), self.ban_time)?;
                let _ = self.store.clear(&fails);
                if n == self.max_retries {
                    banned.push(subject);
                }
            }
        }
        Ok(banned)
    }

    /// Forgets the failures of `login` after a success.
    pub fn succeeded(&self, login: &str) -> Result<(), Unavailable> {
        self.store.clear(&self.key("fail", Subject::Login, login))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Memory;

    fn reg(max: u64, ban: u32) -> Regulator {
        Regulator::new(Box::<Memory>::default(), "t:".into(), max, 60, ban)
    }

    #[test]
    fn max_retries_failures_ban_the_login_and_the_address_once() {
        let r = reg(3, 60);
        assert_eq!(r.failed("alice", "10.0.0.1"), Ok(vec![]));
        assert_eq!(r.failed("alice", "10.0.0.1"), Ok(vec![]));
        assert!(!r.banned("alice", "10.0.0.9").unwrap());
        assert_eq!(
            r.failed("alice", "10.0.0.1"),
            Ok(vec![Subject::Login, Subject::Address])
        );
        assert!(
            r.banned("alice", "10.0.0.9").unwrap(),
            "the login, anywhere"
        );
        assert!(
            r.banned("bob", "10.0.0.1").unwrap(),
            "the address, any login"
        );
        assert!(!r.banned("bob", "10.0.0.9").unwrap());
    }

    #[test]
    fn a_success_forgets_the_login_but_not_the_address() {
        let r = reg(2, 60);
        r.failed("alice", "10.0.0.1").unwrap();
        r.succeeded("alice").unwrap();
        assert_eq!(
            r.failed("alice", "10.0.0.2"),
            Ok(vec![]),
            "login count restarted"
        );
        assert_eq!(r.failed("carol", "10.0.0.1"), Ok(vec![Subject::Address]));
    }

    #[test]
    fn keys_hide_the_login_and_are_printable() {
        let k = reg(1, 1).key("fail", Subject::Login, "alice smith\n");
        assert!(
            k.starts_with("t:fail:login:") && !k.contains("alice"),
            "{k}"
        );
        assert!(k.bytes().all(|b| b.is_ascii_graphic()), "{k}");
    }
}
