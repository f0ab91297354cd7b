//! Interop with the real fixie-creds: a folder written by Python verifies in rewho (the
//! library and `rewho creds`), a folder written by rewho verifies in Python, both write the
//! same bytes, and both give the same messages.
//!
//! Python is `$REWHO_PYTHON`, else `<workspace>/.venv/bin/python` (made by
//! `tests/python/setup-venv.sh`, which installs fixie-creds). The test fails, never skips,
//! when it is missing. `tests/python/fixie_creds_oracle.py` runs fixie-creds' cache.py with
//! stand-ins for the `fixie.environ` module it imports.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use rewho_plugin_creds::store::{CredsStore, RegisterOutcome, StoreOptions};
use serde_json::{json, Value};

/// Sends requests to the fixie-creds oracle; every request gets `credsdir` = `dir`.
fn oracle(dir: &Path, requests: Vec<Value>) -> Vec<Value> {
    let requests: Vec<Value> = requests
        .into_iter()
        .map(|mut r| {
            r["credsdir"] = json!(dir);
            r
        })
        .collect();
    let script = common::workspace().join("tests/python/fixie_creds_oracle.py");
    let mut child = Command::new(common::python(
        "the creds interop tests run the real fixie-creds",
    ))
    .arg(&script)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("run python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&requests).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "fixie_creds_oracle.py failed (is fixie-creds installed? run \
         `bash tests/python/setup-venv.sh`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answers.len(), requests.len());
    answers
}

/// The `result` of one answer (panics on a Python exception).
fn result(answer: &Value) -> &Value {
    answer
        .get("result")
        .unwrap_or_else(|| panic!("fixie-creds raised: {answer}"))
}

fn store(dir: &Path) -> CredsStore {
    CredsStore::open(dir, StoreOptions::create()).unwrap()
}

/// Unusual but valid names and addresses: quotes pick Python's other repr quote, non-ASCII
/// is written as \u escapes.
const USERS: [(&str, &str); 5] = [
    ("alice", "alice@example.org"),
    ("o'neil", "o'neil@example.org"),
    ("say \"hi\"", "q\"uote@example.org"),
    ("éva", "éva@exämple.org"),
    ("用户 1", "\u{1f600}\t@example.org"),
];

#[test]
fn a_folder_written_by_fixie_creds_verifies_in_rewho() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("creds");
    let many: Vec<String> = (0..64).map(|i| format!("user{i}")).collect();
    let mut requests: Vec<Value> = USERS
        .iter()
        .map(|(u, e)| json!({"op": "register", "user": u, "email": e}))
        .collect();
    requests
        .push(json!({"op": "register_many", "users": many, "email": "m@example.org", "seed": 7}));
    let answers = oracle(&dir, requests);
    let mut tokens: Vec<(String, String)> = USERS
        .iter()
        .zip(&answers)
        .map(|((u, _), a)| {
            let r = result(a);
            assert_eq!(r[1], json!(true), "{a}");
            (u.to_string(), r[0].as_str().unwrap().to_owned())
        })
        .collect();
    for (u, r) in many
        .iter()
        .zip(result(&answers[USERS.len()]).as_array().unwrap())
    {
        tokens.push((u.clone(), r[0].as_str().unwrap().to_owned()));
    }
    // Python drops leading zero digits (hex(getrandbits(160))[2:]): such tokens must work.
    let short = tokens.iter().filter(|(_, t)| t.len() < 40).count();
    assert!(short > 0, "seed 7 should give some short tokens");

    let s = CredsStore::open(&dir, StoreOptions::default()).unwrap();
    for (user, token) in &tokens {
        let v = s.verify(user, token).unwrap();
        assert!(v.verified(), "{user}: {}", v.message());
        assert!(!s.verify(user, &"0".repeat(40)).unwrap().verified());
    }
    let rec = s.get_user("éva").unwrap().unwrap();
    assert_eq!(rec.email, "éva@exämple.org");

    // The command line agrees (exit 0 verified, 1 not).
    let rewho = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rewho"))
            .arg("creds")
            .arg("--credsdir")
            .arg(&dir)
            .args(args)
            .output()
            .unwrap()
    };
    let (user, token) = &tokens[1];
    let out = rewho(&["verify", user, token]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "User verified\n");
    let out = rewho(&["verify", user, "abc"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    // rewho resets and deregisters users Python registered; Python sees the result.
    let reset = s.reset("alice", "alice@example.org").unwrap();
    let new = reset.token().unwrap().as_str().to_owned();
    let d = s.deregister("o'neil", &tokens[1].1).unwrap();
    assert!(d.status(), "{}", d.message());
    let answers = oracle(
        &dir,
        vec![
            json!({"op": "verify", "user": "alice", "token": new}),
            json!({"op": "verify", "user": "alice", "token": tokens[0].1}),
            json!({"op": "user_exists", "user": "o'neil"}),
        ],
    );
    assert_eq!(result(&answers[0]), &json!([true, "User verified", true]));
    assert_eq!(
        result(&answers[1]),
        &json!([false, "Invalid token for user alice", true])
    );
    assert_eq!(result(&answers[2]), &json!(false));
}

#[test]
fn a_folder_written_by_rewho_verifies_in_fixie_creds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("creds");
    let s = store(&dir);
    let tokens: Vec<String> = USERS
        .iter()
        .map(|(u, e)| match s.register(u, e).unwrap() {
            RegisterOutcome::Registered { token, .. } => token.into_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    // And one through `rewho creds register`.
    let out = Command::new(env!("CARGO_BIN_EXE_rewho"))
        .args([
            "creds",
            "register",
            "cli-user",
            "cli@example.org",
            "--credsdir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let cli_token = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let mut requests = Vec::new();
    for ((user, email), token) in USERS.iter().zip(&tokens) {
        requests.push(json!({"op": "verify", "user": user, "token": token}));
        requests.push(json!({"op": "verify", "user": user, "token": "1234"}));
        requests.push(json!({"op": "get_user", "user": user}));
        let _ = email;
    }
    requests.push(json!({"op": "verify", "user": "cli-user", "token": cli_token}));
    requests.push(json!({"op": "reset", "user": "alice", "email": "alice@example.org"}));
    let answers = oracle(&dir, requests);
    for (i, ((user, email), token)) in USERS.iter().zip(&tokens).enumerate() {
        assert_eq!(
            result(&answers[3 * i]),
            &json!([true, "User verified", true]),
            "{user}"
        );
        assert_eq!(
            result(&answers[3 * i + 1]),
            &json!([false, format!("Invalid token for user {user}"), true])
        );
        assert_eq!(
            result(&answers[3 * i + 2]),
            &json!({"user": user, "email": email, "hashed_token": s.hash_token(token).unwrap()})
        );
    }
    let n = 3 * USERS.len();
    assert_eq!(result(&answers[n]), &json!([true, "User verified", true]));
    // Python resets a user rewho registered; rewho sees the new token at once.
    let r = result(&answers[n + 1]);
    assert_eq!(r[1], json!(true), "{r}");
    assert!(s
        .verify("alice", r[0].as_str().unwrap())
        .unwrap()
        .verified());
    assert!(!s.verify("alice", &tokens[0]).unwrap().verified());
}

#[test]
fn both_write_the_same_bytes_and_hash_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let (py_dir, rs_dir) = (tmp.path().join("py"), tmp.path().join("rs"));
    let s = store(&rs_dir);
    let hash = "897ddb19c14430f6f72fcfd885af7cddf0ffb220ab765df4a1b283c473a69423";
    let emails = [
        "plain@example.org",
        "quote\"back\\slash",
        "ctl\u{1}\u{7f}\n\r\t\u{8}\u{c}",
        "é\u{1f600}\u{fffd}",
    ];
    let mut requests = Vec::new();
    for ((user, _), email) in USERS.iter().zip(emails.iter().cycle()) {
        requests
            .push(json!({"op": "write_user", "user": user, "email": email, "hashed_token": hash}));
        s.write_user(user, email, hash).unwrap();
    }
    let tokens = [
        "46685257bdd640fb06671ad11c80317fa3b1799d",
        "0",
        "1",
        "ABCDEF",
        "000000000000000000000000000000000000000000000001",
        "ffffffffffffffffffffffffffffffffffffffff",
    ];
    for t in tokens {
        requests.push(json!({"op": "hash_token", "token": t}));
    }
    let answers = oracle(&py_dir, requests);
    for (user, _) in USERS {
        let name = format!("{user}.json");
        let py = std::fs::read(py_dir.join(&name)).unwrap();
        let rs = std::fs::read(rs_dir.join(&name)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&rs),
            String::from_utf8_lossy(&py),
            "{name}"
        );
    }
    for (t, a) in tokens.iter().zip(&answers[USERS.len()..]) {
        assert_eq!(
            s.hash_token(t).as_deref(),
            result(a).as_str(),
            "hash_token({t})"
        );
    }
    assert_eq!(s.hash_token(tokens[0]).unwrap(), hash, "the known vector");
}

#[test]
fn both_give_the_same_answers_and_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let (py_dir, rs_dir) = (tmp.path().join("py"), tmp.path().join("rs"));
    let s = store(&rs_dir);
    // A scenario without valid tokens (they differ), in fixie-creds' request shapes.
    let mut scenario = Vec::new();
    for (user, email) in USERS {
        scenario.extend([
            json!({"op": "verify", "user": user, "token": "00"}),
            json!({"op": "deregister", "user": user, "token": "00"}),
            json!({"op": "reset", "user": user, "email": email}),
            json!({"op": "register", "user": user, "email": email}),
            json!({"op": "register", "user": user, "email": email}),
            json!({"op": "verify", "user": user, "token": "00"}),
            json!({"op": "deregister", "user": user, "token": "00"}),
            json!({"op": "reset", "user": user, "email": "wrong@example.org"}),
            json!({"op": "user_exists", "user": user}),
        ]);
    }
    let py = oracle(&py_dir, scenario.clone());
    let token_shaped = |v: &Value| {
        v.as_str().is_some_and(|t| {
            !t.is_empty() && t.len() <= 40 && t.bytes().all(|b| b.is_ascii_hexdigit())
        })
    };
    for (req, py_answer) in scenario.iter().zip(&py) {
        let py_r = result(py_answer).clone();
        let user = req["user"].as_str().unwrap();
        let rs_r = match req["op"].as_str().unwrap() {
            "verify" => {
                let o = s.verify(user, req["token"].as_str().unwrap()).unwrap();
                json!([o.verified(), o.message(), o.status()])
            }
            "deregister" => {
                let o = s.deregister(user, req["token"].as_str().unwrap()).unwrap();
                json!([o.message(), o.status()])
            }
            "reset" => {
                let o = s.reset(user, req["email"].as_str().unwrap()).unwrap();
                json!([o.message(), o.status()])
            }
            "register" => {
                let o = s.register(user, req["email"].as_str().unwrap()).unwrap();
                json!([o.message(), o.status()])
            }
            "user_exists" => json!(s.user_exists(user).unwrap()),
            op => unreachable!("{op}"),
        };
        // A successful register/reset answers with a fresh token on each side.
        if rs_r[1] == json!(true) && token_shaped(&rs_r[0]) {
            assert!(
                token_shaped(&py_r[0]) && py_r[1] == json!(true),
                "{req}: {py_r}"
            );
            continue;
        }
        assert_eq!(rs_r, py_r, "{req}");
    }
}
