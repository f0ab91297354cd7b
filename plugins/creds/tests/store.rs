//! The credentials store: every operation and message (fixie-creds' wording), the file
//! layout and permissions, user names that try to leave the folder, corrupt files, the
//! cache, and racing writers.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Barrier};

use rewho_plugin_creds::store::*;

fn store() -> (tempfile::TempDir, CredsStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = CredsStore::open(dir.path().join("creds"), StoreOptions::create()).unwrap();
    (dir, s)
}

fn register(s: &CredsStore, user: &str, email: &str) -> String {
    match s.register(user, email).unwrap() {
        RegisterOutcome::Registered { token, .. } => token.into_string(),
        other => panic!("{other:?}"),
    }
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Names in the folder other than user files and the lock file (temp files left behind).
fn strays(s: &CredsStore) -> Vec<String> {
    fs::read_dir(s.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.ends_with(".json") && n != ".rewho-creds.lock")
        .collect()
}

#[test]
fn register_then_verify_with_fixie_creds_messages() {
    let (_d, s) = store();
    assert!(!s.user_exists("alice").unwrap());
    let token = register(&s, "alice", "alice@example.org");
    assert_eq!(token.len(), 40);
    assert!(s.user_exists("alice").unwrap());

    let ok = s.verify("alice", &token).unwrap();
    assert!(ok.verified() && ok.status());
    assert_eq!(ok.message(), "User verified");
    // Upper case is the same number, as Python's int(token, 16) reads it.
    assert!(s.verify("alice", &token.to_uppercase()).unwrap().verified());

    let bad = s.verify("alice", &"0".repeat(40)).unwrap();
    assert!(!bad.verified() && bad.status());
    assert_eq!(bad.message(), "Invalid token for user alice");
    // Not a token at all: the same answer (fixie-creds would raise).
    for junk in ["", "zz", "0x12", &"f".repeat(41)] {
        let r = s.verify("alice", junk).unwrap();
        assert_eq!(
            r,
            VerifyOutcome::InvalidToken {
                user: "alice".into()
            }
        );
    }

    let missing = s.verify("bob", &token).unwrap();
    assert!(!missing.verified() && !missing.status());
    assert_eq!(missing.message(), "User 'bob' not registered");

    let again = s.register("alice", "other@example.org").unwrap();
    assert!(!again.status() && again.token().is_none());
    assert_eq!(again.message(), "User 'alice' already registered");
    // The original registration is untouched.
    assert!(s.verify("alice", &token).unwrap().verified());

    let rec = s.get_user("alice").unwrap().unwrap();
    assert_eq!(rec.user, "alice");
    assert_eq!(rec.email, "alice@example.org");
    assert_eq!(Some(rec.hashed_token), s.hash_token(&token));
    assert_eq!(s.get_user("bob").unwrap(), None);
}

#[test]
fn messages_quote_names_as_python_repr_does() {
    let (_d, s) = store();
    register(&s, "o'neil", "o@example.org");
    assert_eq!(
        s.register("o'neil", "x").unwrap().message(),
        "User \"o'neil\" already registered"
    );
    assert_eq!(
        s.verify("say \"hi\"", "00").unwrap().message(),
        "User 'say \"hi\"' not registered"
    );
    assert_eq!(
        s.verify("o'neil", "00").unwrap().message(),
        "Invalid token for user o'neil"
    );
}

#[test]
fn reset_requires_the_registered_email_and_replaces_the_token() {
    let (_d, s) = store();
    let old = register(&s, "alice", "alice@example.org");
    let ino = fs::metadata(s.dir().join("alice.json")).unwrap().ino();

    let wrong = s.reset("alice", "ALICE@example.org").unwrap();
    assert!(!wrong.status() && wrong.token().is_none());
    assert_eq!(
        wrong.message(),
        "User email does not match registered email address"
    );
    assert!(s.verify("alice", &old).unwrap().verified());

    let missing = s.reset("bob", "bob@example.org").unwrap();
    assert!(!missing.status());
    assert_eq!(missing.message(), "User 'bob' not registered");

    let r = s.reset("alice", "alice@example.org").unwrap();
    assert!(r.status());
    let new = r.token().unwrap().as_str().to_owned();
    assert_eq!(r.message(), new);
    assert_ne!(new, old);
    assert!(s.verify("alice", &new).unwrap().verified());
    assert_eq!(
        s.verify("alice", &old).unwrap().message(),
        "Invalid token for user alice"
    );
    // Replaced by rename: a new inode, same e-mail, still 0600.
    let path = s.dir().join("alice.json");
    assert_ne!(fs::metadata(&path).unwrap().ino(), ino);
    assert_eq!(
        s.get_user("alice").unwrap().unwrap().email,
        "alice@example.org"
    );
    assert_eq!(mode(&path), 0o600);
    assert!(strays(&s).is_empty(), "{:?}", strays(&s));
}

#[test]
fn deregister_needs_the_token() {
    let (_d, s) = store();
    let token = register(&s, "alice", "a@example.org");

    let bad = s.deregister("alice", &"1".repeat(40)).unwrap();
    assert!(!bad.status());
    assert_eq!(bad.message(), "Invalid token for user alice");
    assert!(s.user_exists("alice").unwrap());

    let missing = s.deregister("bob", &token).unwrap();
    assert!(!missing.status());
    assert_eq!(missing.message(), "User 'bob' not registered");

    let ok = s.deregister("alice", &token).unwrap();
    assert!(ok.status());
    assert_eq!(ok.message(), "alice deregistered");
    assert!(!s.user_exists("alice").unwrap());
    assert!(!s.verify("alice", &token).unwrap().verified());
    // And the name is free again.
    register(&s, "alice", "a@example.org");
}

#[test]
fn remove_user_needs_no_token() {
    let (_d, s) = store();
    register(&s, "alice", "a@example.org");
    let r = s.remove_user("alice").unwrap();
    assert!(r.status());
    assert_eq!(r.message(), "alice removed");
    assert!(!s.user_exists("alice").unwrap());
    let again = s.remove_user("alice").unwrap();
    assert!(!again.status());
    assert_eq!(again.message(), "User 'alice' not registered");
}

#[test]
fn files_are_fixie_creds_json_with_tight_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("a/b/creds");
    let s = CredsStore::open(&creds, StoreOptions::create()).unwrap();
    assert_eq!(mode(&creds), 0o700);
    let token = register(&s, "o'neil", "é@example.org");
    let path = creds.join("o'neil.json");
    assert_eq!(mode(&path), 0o600);
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"email":"\u00e9@example.org","hashed_token":"{}","user":"o'neil"}}"#,
            s.hash_token(&token).unwrap()
        )
    );
    assert_eq!(mode(&creds.join(".rewho-creds.lock")), 0o600);
    assert!(strays(&s).is_empty());

    // write_user writes the same bytes fixie-creds' write_user would.
    let h = "897ddb19c14430f6f72fcfd885af7cddf0ffb220ab765df4a1b283c473a69423";
    s.write_user("bob", "bob@example.org", h).unwrap();
    assert_eq!(
        fs::read_to_string(creds.join("bob.json")).unwrap(),
        format!(r#"{{"email":"bob@example.org","hashed_token":"{h}","user":"bob"}}"#)
    );
    assert!(s
        .verify("bob", "46685257bdd640fb06671ad11c80317fa3b1799d")
        .unwrap()
        .verified());
    assert!(s.write_user("bob", "b", &h.to_uppercase()).is_err());

    // Even with a permissive umask (restored before any assertion can fail).
    // SAFETY: umask(2) only changes this process's file-creation mask.
    let old = unsafe { libc::umask(0) };
    let s2 = CredsStore::open(dir.path().join("wide"), StoreOptions::create());
    let t2 = s2
        .as_ref()
        .map(|s2| register(s2, "carol", "c@example.org"))
        .map_err(|e| e.to_string());
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let s2 = s2.unwrap();
    t2.unwrap();
    assert_eq!(mode(s2.dir()), 0o700);
    assert_eq!(mode(&s2.dir().join("carol.json")), 0o600);
}

#[test]
fn hash_token_matches_the_known_vector() {
    let (_d, s) = store();
    assert_eq!(
        s.hash_token("46685257bdd640fb06671ad11c80317fa3b1799d")
            .as_deref(),
        Some("897ddb19c14430f6f72fcfd885af7cddf0ffb220ab765df4a1b283c473a69423")
    );
    assert_eq!(s.hash_token("not hex"), None);
}

#[test]
fn names_that_leave_the_folder_are_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    let s = CredsStore::open(&creds, StoreOptions::create()).unwrap();
    // A valid record outside the folder, which `../outside` would reach in fixie-creds.
    let outside = dir.path().join("outside.json");
    let h = "897ddb19c14430f6f72fcfd885af7cddf0ffb220ab765df4a1b283c473a69423";
    let record = format!(r#"{{"email":"e","hashed_token":"{h}","user":"../outside"}}"#);
    fs::write(&outside, &record).unwrap();
    let token = "46685257bdd640fb06671ad11c80317fa3b1799d";

    let bad_names = [
        "../outside",
        "..",
        ".",
        "",
        "/etc/passwd",
        "a/b",
        "..\\outside",
        "a\0b",
        "a\nb",
    ];
    for user in bad_names {
        let check = |r: Result<(), StoreError>, op: &str| {
            let e = r.expect_err(&format!("{op} {user:?} should fail"));
            assert!(e.is_invalid_user(), "{op} {user:?}: {e}");
            assert!(
                matches!(e.kind(), StoreErrorKind::InvalidUser { .. }),
                "{e:?}"
            );
            assert!(e.to_string().starts_with("invalid user name"), "{e}");
        };
        check(s.register(user, "e").map(drop), "register");
        check(s.verify(user, token).map(drop), "verify");
        check(s.deregister(user, token).map(drop), "deregister");
        check(s.reset(user, "e").map(drop), "reset");
        check(s.remove_user(user).map(drop), "remove_user");
        check(s.user_exists(user).map(drop), "user_exists");
        check(s.get_user(user).map(drop), "get_user");
        check(s.write_user(user, "e", h), "write_user");
        check(s.user_cred_file(user).map(drop), "user_cred_file");
    }
    assert_eq!(fs::read_to_string(&outside).unwrap(), record);
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}"); // creds/ and outside.json
    assert!(strays(&s).is_empty());
}

#[test]
fn a_corrupt_file_is_reported_with_its_path_and_others_still_verify() {
    let (_d, s) = store();
    let alice = register(&s, "alice", "a@example.org");
    let h = s.hash_token(&alice).unwrap();
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "torn",
            b"{\"email\":\"b@exa".to_vec(),
            "not a credentials record",
        ),
        ("empty", Vec::new(), "not a credentials record"),
        (
            "notjson",
            b"\xff\xfe garbage".to_vec(),
            "not a credentials record",
        ),
        (
            "other",
            format!(r#"{{"email":"e","hashed_token":"{h}","user":"alice"}}"#).into_bytes(),
            "it holds user 'alice', not 'other'",
        ),
        (
            "badhash",
            br#"{"email":"e","hashed_token":"XYZ","user":"badhash"}"#.to_vec(),
            "`hashed_token` is not 64 lowercase hex digits",
        ),
        ("huge", vec![b' '; 70 * 1024], "larger than 65536 bytes"),
    ];
    for (user, bytes, why) in &cases {
        let path = s.dir().join(format!("{user}.json"));
        fs::write(&path, bytes).unwrap();
        let e = s.verify(user, &alice).unwrap_err();
        assert_eq!(e.path(), Some(path.as_path()));
        assert!(matches!(e.kind(), StoreErrorKind::Corrupt(_)), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("{}: corrupt user file: ", path.display())),
            "{msg}"
        );
        assert!(msg.contains(why), "{user}: {msg}");
        // Other operations that need the record fail the same way.
        assert!(s.get_user(user).is_err());
        assert!(s.reset(user, "e").is_err());
        assert!(s.deregister(user, &alice).is_err());
        // The file exists, so the name is taken; an administrator can still remove it.
        assert!(!s.register(user, "e").unwrap().status());
        // Alice is unaffected.
        assert!(s.verify("alice", &alice).unwrap().verified());
    }
    assert!(s.remove_user("torn").unwrap().status());
    // A folder where a file should be.
    fs::create_dir(s.dir().join("dir.json")).unwrap();
    let e = s.verify("dir", &alice).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
}

#[test]
fn the_cache_notices_changes_by_other_writers() {
    let (_d, s) = store();
    let first = register(&s, "alice", "a@example.org");
    assert!(s.verify("alice", &first).unwrap().verified());

    // Another process (fixie-creds, say) rewrites the file in place: same inode.
    let other = CredsStore::open(s.dir(), StoreOptions::default()).unwrap();
    let second = "46685257bdd640fb06671ad11c80317fa3b1799d";
    let path = s.dir().join("alice.json");
    let ino = fs::metadata(&path).unwrap().ino();
    fs::write(
        &path,
        format!(
            r#"{{"email":"a@example.org","hashed_token":"{}","user":"alice"}}"#,
            other.hash_token(second).unwrap()
        ),
    )
    .unwrap();
    assert_eq!(fs::metadata(&path).unwrap().ino(), ino);
    assert!(s.verify("alice", second).unwrap().verified());
    assert!(!s.verify("alice", &first).unwrap().verified());

    // Another store resets; this one sees the new token at once.
    let third = other
        .reset("alice", "a@example.org")
        .unwrap()
        .token()
        .unwrap()
        .as_str()
        .to_owned();
    assert!(s.verify("alice", &third).unwrap().verified());
    assert!(!s.verify("alice", second).unwrap().verified());

    // And a removal.
    fs::remove_file(&path).unwrap();
    assert!(!s.verify("alice", &third).unwrap().status());
}

#[test]
fn opening_checks_the_folder_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let e = CredsStore::open(&missing, StoreOptions::default()).unwrap_err();
    assert_eq!(e.path(), Some(missing.as_path()));
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(!missing.exists());

    let file = dir.path().join("file");
    fs::write(&file, "").unwrap();
    let e = CredsStore::open(&file, StoreOptions::create()).unwrap_err();
    assert!(e.to_string().contains("not a folder"), "{e}");

    for nbytes in [0, MAX_NBYTES + 1] {
        let o = StoreOptions {
            nbytes,
            create: true,
        };
        let e = CredsStore::open(dir.path(), o).unwrap_err();
        assert!(e.to_string().contains("nbytes"), "{e}");
    }
    // Another token size: tokens and verification follow it.
    let o = StoreOptions {
        nbytes: 32,
        create: true,
    };
    let s = CredsStore::open(dir.path().join("n32"), o).unwrap();
    let t = register(&s, "alice", "a");
    assert_eq!(t.len(), 64);
    assert!(s.verify("alice", &t).unwrap().verified());
}

#[test]
fn racing_registrations_in_threads_have_one_winner() {
    let (_d, s) = store();
    let s = Arc::new(s);
    for round in 0..20 {
        let user = format!("user{round}");
        let n = 8;
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (s, b, user) = (s.clone(), barrier.clone(), user.clone());
                std::thread::spawn(move || {
                    b.wait();
                    s.register(&user, &format!("{i}@example.org")).unwrap()
                })
            })
            .collect();
        let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<_> = outcomes.iter().filter(|o| o.status()).collect();
        assert_eq!(winners.len(), 1, "{outcomes:?}");
        let token = winners[0].token().unwrap().as_str();
        assert!(s.verify(&user, token).unwrap().verified());
    }
    assert!(strays(&s).is_empty());
}

#[test]
fn debug_output_never_shows_tokens() {
    let (_d, s) = store();
    let outcome = s.register("alice", "a@example.org").unwrap();
    let token = outcome.token().unwrap().as_str().to_owned();
    let debug = format!("{outcome:?} {s:?}");
    assert!(!debug.contains(&token), "{debug}");
    assert!(debug.contains("<redacted>"));
    let reset = s.reset("alice", "a@example.org").unwrap();
    let new = reset.token().unwrap().as_str().to_owned();
    assert!(!format!("{reset:?}").contains(&new));
}
