//! Password verification for every format Apache's `htpasswd` writes, chosen from the hash's
//! prefix as Apache's `apr_password_validate` does.
//!
//! | `htpasswd` flag | stored form | here |
//! | --- | --- | --- |
//! | `-B` | `$2y$NN$…` (also `$2a$`, `$2b$`, `$2x$`) | `bcrypt` crate (72-byte limit, as Apache) |
//! | `-m` (default) | `$apr1$salt$…` | [`md5_crypt`](crate::md5_crypt) (also glibc's `$1$`) |
//! | `-2` / `-5` | `$5$[rounds=N$]salt$…` / `$6$…` | `sha-crypt` crate |
//! | `-s` | `{SHA}base64` | `sha1` |
//! | `-d` | 13 characters `[./0-9A-Za-z]` | [`des_crypt`](crate::des_crypt) |
//! | `-p` | the password itself | only with [`CheckMode::Plain`] |
//!
//! Every final comparison is constant-time. Nothing here panics on any input.

use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::des_crypt::{des_crypt, is_des_hash};
use crate::md5_crypt::md5_crypt;

/// How stored passwords are read: repoze.who's `check_fn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckMode {
    /// Recognise the hash format (repoze.who's `crypt_check`, `sha1_check`, `bcrypt:checkpw`).
    Auto,
    /// The file holds plain-text passwords (repoze.who's `plain_check`, `htpasswd -p`).
    Plain,
}

impl CheckMode {
    /// Maps a `check_fn` value: repoze.who's dotted names or the short names `auto`/`plain`.
    pub fn from_check_fn(name: &str) -> Option<CheckMode> {
        let name = name.trim();
        let short = name.rsplit([':', '.']).next().unwrap_or(name);
        let module_ok = |prefix: &str| {
            let module = name[..name.len() - short.len()].trim_end_matches([':', '.']);
            module.is_empty() || module == prefix
        };
        match short {
            "auto" | "crypt" | "sha1" if module_ok("") => Some(CheckMode::Auto),
            "plain" if module_ok("") => Some(CheckMode::Plain),
            "crypt_check" | "sha1_check" if module_ok("repoze.who.plugins.htpasswd") => {
                Some(CheckMode::Auto)
            }
            "plain_check" if module_ok("repoze.who.plugins.htpasswd") => Some(CheckMode::Plain),
            "checkpw" if module_ok("bcrypt") => Some(CheckMode::Auto),
            _ => None,
        }
    }
}

/// The format of a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `$2y$`, `$2b$`, `$2a$`, `$2x$`.
    Bcrypt,
    /// `$apr1$`.
    Apr1,
    /// `$1$` (glibc MD5-crypt).
    Md5Crypt,
    /// `$5$`.
    Sha256Crypt,
    /// `$6$`.
    Sha512Crypt,
    /// `{SHA}`.
    Sha1,
    /// Traditional DES crypt.
    Des,
    /// A plain-text password (only meaningful with [`CheckMode::Plain`]).
    Plain,
    /// None of the above.
    Unknown,
}

impl Scheme {
    /// `true` for the deliberately slow schemes (bcrypt; MD5- and SHA-crypt, 1000 to 5000
    /// rounds): milliseconds or hundreds of microseconds, too long for a reactor thread.
    /// `{SHA}`, DES and plain take microseconds.
    pub fn is_slow(self) -> bool {
        matches!(
            self,
            Scheme::Bcrypt
                | Scheme::Apr1
                | Scheme::Md5Crypt
                | Scheme::Sha256Crypt
                | Scheme::Sha512Crypt
        )
    }

    /// Roughly how many nanoseconds checking a password against `hash` (of this scheme)
    /// takes: enough to rank entries, so unknown users can be checked against the slowest
    /// one. bcrypt doubles per cost step (about 60 ms at cost 10); SHA-crypt grows with its
    /// `rounds=` (5000 by default); MD5-crypt runs 1000 rounds; the rest are microseconds.
    pub fn estimated_nanos(self, hash: &str) -> u64 {
        match self {
            Scheme::Bcrypt => {
                let cost: u32 = hash.get(4..6).and_then(|c| c.parse().ok()).unwrap_or(10);
                60_000u64.saturating_mul(1u64 << cost.min(31))
            }
            Scheme::Sha256Crypt | Scheme::Sha512Crypt => {
                let rounds: u64 = hash
                    .get(3..)
                    .and_then(|rest| rest.strip_prefix("rounds="))
                    .and_then(|rest| rest.split('$').next())
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(5000);
                rounds.saturating_mul(if self == Scheme::Sha512Crypt {
                    800
                } else {
                    500
                })
            }
            Scheme::Apr1 | Scheme::Md5Crypt => 300_000,
            Scheme::Des => 20_000,
            Scheme::Sha1 | Scheme::Plain => 1_000,
            Scheme::Unknown => 0,
        }
    }

    /// The scheme of `hash` in `mode` (everything is [`Scheme::Plain`] in plain mode).
    pub fn of(hash: &str, mode: CheckMode) -> Scheme {
        if mode == CheckMode::Plain {
            return Scheme::Plain;
        }
        if ["$2y$", "$2b$", "$2a$", "$2x$"]
            .iter()
            .any(|p| hash.starts_with(p))
        {
            Scheme::Bcrypt
        } else if hash.starts_with("$apr1$") {
            Scheme::Apr1
        } else if hash.starts_with("$1$") {
            Scheme::Md5Crypt
        } else if hash.starts_with("$5$") {
            Scheme::Sha256Crypt
        } else if hash.starts_with("$6$") {
            Scheme::Sha512Crypt
        } else if hash.starts_with("{SHA}") {
            Scheme::Sha1
        } else if is_des_hash(hash) {
            Scheme::Des
        } else {
            Scheme::Unknown
        }
    }
}

fn ct_eq(a: &str, b: &str) -> bool {
    rewho_plugin_api::constant_time_eq(a.as_bytes(), b.as_bytes())
}

/// `$5$[rounds=N$]salt$hash` / `$6$…` checked with the `sha-crypt` crate, following glibc:
/// rounds outside 1000..=999999999 or a salt over 16 characters cannot match (glibc would
/// write a different string).
fn sha_crypt_check(password: &[u8], stored: &str, sha512: bool) -> bool {
    let Some(rest) = stored.get(3..) else {
        return false;
    };
    let (rounds, rest) = match rest.strip_prefix("rounds=") {
        Some(r) => {
            let Some((n, rest)) = r.split_once('$') else {
                return false;
            };
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            match n.parse::<usize>() {
                Ok(n) => (n, rest),
                Err(_) => return false,
            }
        }
        None => (sha_crypt::ROUNDS_DEFAULT, rest),
    };
    let Some((salt, hash)) = rest.split_once('$') else {
        return false;
    };
    if salt.len() > 16 {
        return false;
    }
    let computed = if sha512 {
        sha_crypt::Sha512Params::new(rounds)
            .ok()
            .and_then(|p| sha_crypt::sha512_crypt_b64(password, salt.as_bytes(), &p).ok())
    } else {
        sha_crypt::Sha256Params::new(rounds)
            .ok()
            .and_then(|p| sha_crypt::sha256_crypt_b64(password, salt.as_bytes(), &p).ok())
    };
    computed.is_some_and(|c| ct_eq(&c, hash))
}

/// Checks `password` against one stored entry.
pub fn verify(password: &str, stored: &str, mode: CheckMode) -> bool {
    verify_as(password, stored, Scheme::of(stored, mode))
}

/// [`verify`] for a caller that already knows the entry's scheme ([`Scheme::of`]).
pub fn verify_as(password: &str, stored: &str, scheme: Scheme) -> bool {
    let pw = password.as_bytes();
    match scheme {
        Scheme::Plain => ct_eq(password, stored),
        Scheme::Bcrypt => bcrypt::verify(pw, stored).unwrap_or(false),
        Scheme::Apr1 => ct_eq(&md5_crypt(pw, &stored[6..], "$apr1$"), stored),
        Scheme::Md5Crypt => ct_eq(&md5_crypt(pw, &stored[3..], "$1$"), stored),
        Scheme::Sha256Crypt => sha_crypt_check(pw, stored, false),
        Scheme::Sha512Crypt => sha_crypt_check(pw, stored, true),
        Scheme::Sha1 => {
            let digest = Sha1::digest(pw);
            let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
            ct_eq(&encoded, &stored[5..])
        }
        Scheme::Des => {
            let b = stored.as_bytes();
            des_crypt(pw, [b[0], b[1]]).is_some_and(|c| ct_eq(&c, stored))
        }
        Scheme::Unknown => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_fn_names() {
        use CheckMode::*;
        for (name, mode) in [
            ("repoze.who.plugins.htpasswd:crypt_check", Some(Auto)),
            ("repoze.who.plugins.htpasswd.crypt_check", Some(Auto)),
            ("repoze.who.plugins.htpasswd:sha1_check", Some(Auto)),
            ("repoze.who.plugins.htpasswd:plain_check", Some(Plain)),
            ("bcrypt:checkpw", Some(Auto)),
            ("bcrypt.checkpw", Some(Auto)),
            ("auto", Some(Auto)),
            (" plain ", Some(Plain)),
            ("mymodule:plain_check", None),
            ("mymodule:check", None),
            ("plain_check", Some(Plain)),
            ("", None),
        ] {
            assert_eq!(CheckMode::from_check_fn(name), mode, "{name}");
        }
    }

    #[test]
    fn verifies_each_scheme() {
        // Hashes of "pässwörd:x y" written by `htpasswd -nb{B,m,s,d,2,5}` 2.4.
        let pw = "pässwörd:x y";
        let cases = [
            "$2y$05$4556BQCqyLabR0WckoqQuOunWEZTA4U6bT5vRogaLlMAmddCcksqa",
            "$apr1$eLghtufl$peQflIt5slNUGnxHOUDWN0",
            "{SHA}jelFExz2hCbKs1GppxyNvJE/5Jg=",
            "$5$pk4o1sIDKrI9QhvB$9WLuoAN7CvwE/1AvOscalzPvPfMMu0.81Ax1SVdQK88",
            "$6$9wKDT6UHi6m065VV$k3rGVOu9t/qtU2luA2VpnWGR4rDas4BGSZH0mqYKi5aSy/trYq2Z1C08GGWvWCPJIO9cMfPxFJvT9VHZJ.M4R0",
            "$5$rounds=10000$TXBcTuvQDKhXJKWy$a6c4.wpq7yXHy/u9yvvVaqHOvZo/ZAHbMZlrlCoPq0.",
            "$6$rounds=1000$VAxhixXs9isz82Yb$qSqzQB74fUlU2R04nlRSWu15Iow8NA6RGKjafEKav./K9lQDYUH/pHzkHEQCJXcN0JHs.CROZxCHkD.lCNCuE0",
        ];
        for stored in cases {
            assert!(verify(pw, stored, CheckMode::Auto), "{stored}");
            assert!(!verify("wrong", stored, CheckMode::Auto), "{stored}");
            assert!(
                !verify(pw, stored, CheckMode::Plain),
                "plain mode: {stored}"
            );
        }
        // DES keeps eight characters.
        assert!(verify("pässwörd", "2K/sPqvCqdmqQ", CheckMode::Auto));
        assert!(verify(
            "pässwörd and more",
            "2K/sPqvCqdmqQ",
            CheckMode::Auto
        ));
        assert!(
            verify("pässwö", "2K/sPqvCqdmqQ", CheckMode::Auto),
            "8 bytes of UTF-8"
        );
        assert!(!verify("pässwX", "2K/sPqvCqdmqQ", CheckMode::Auto));
        // Plain only in plain mode.
        assert!(verify("secret", "secret", CheckMode::Plain));
        assert!(!verify("secret", "secret", CheckMode::Auto));
        assert!(!verify("secret", "secreT", CheckMode::Plain));
    }

    #[test]
    fn malformed_hashes_never_match_or_panic() {
        for stored in [
            "",
            "$",
            "$2y$",
            "$2y$05$short",
            "$apr1$",
            "$1$",
            "$5$",
            "$6$",
            "$5$rounds=$a$b",
            "$5$rounds=10$salt$x",
            "$5$rounds=99999999999999999999$s$x",
            "$6$0123456789abcdefg$x",
            "{SHA}",
            "{SHA}!!!",
            "é",
            "ééééééééééééé",
            "$apr1$é$",
        ] {
            assert!(!verify("", stored, CheckMode::Auto), "{stored}");
            assert!(!verify("x", stored, CheckMode::Auto), "{stored}");
        }
    }
}
