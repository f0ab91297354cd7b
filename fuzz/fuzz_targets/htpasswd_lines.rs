//! htpasswd file content → `Db::parse` (both check modes), lookups, and password checks
//! against every stored entry. Nothing may panic; warnings must never quote a hash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rewho_plugin_htpasswd::db::Db;
use rewho_plugin_htpasswd::verify::{verify, CheckMode, Scheme};

/// bcrypt and SHA-crypt costs come from the file (config, not the client): a fuzzed
/// `$2y$31$` entry is correct but takes days, and even the defaults (bcrypt 05, SHA-crypt
/// 5000 rounds) would make each input take milliseconds. Only the cheapest are verified; the
/// others are still parsed by `Db::parse` and `Scheme::of`.
fn cheap(hash: &str) -> bool {
    match Scheme::of(hash, CheckMode::Auto) {
        Scheme::Bcrypt => hash.get(4..7) == Some("04$"),
        Scheme::Sha256Crypt | Scheme::Sha512Crypt => hash
            .get(3..)
            .and_then(|r| r.strip_prefix("rounds="))
            .is_some_and(|r| r.starts_with("1000$")),
        _ => true,
    }
}

fuzz_target!(|data: &[u8]| {
    for mode in [CheckMode::Auto, CheckMode::Plain] {
        let (db, warnings) = Db::parse(data, mode);
        for w in &warnings {
            assert!(w.starts_with("line "), "{w}");
        }
        let text = String::from_utf8_lossy(data);
        for line in text.lines().take(4) {
            let Some((user, rest)) = line.split_once(':') else {
                continue;
            };
            let (stored, found) = db.lookup(user);
            if found {
                let stored = stored.expect("a known user has a hash");
                if mode == CheckMode::Auto && !cheap(stored) {
                    continue;
                }
                let _ = verify(rest, stored, mode);
                let _ = verify("", stored, mode);
            }
        }
        let _ = db.lookup("nobody-\u{0}-here");
    }
});
