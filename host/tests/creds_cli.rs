//! `rewho creds`: every subcommand with its output and exit code (0 done, 1 a negative
//! answer, 2 an error), where the folder comes from (--credsdir, --config, REWHO_CREDS_DIR),
//! and several processes registering and resetting the same user at once.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `rewho creds ARGS` with no REWHO_CREDS_DIR unless `env` gives one.
fn rewho(args: &[&str], env: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rewho"));
    cmd.arg("creds").args(args).env_remove("REWHO_CREDS_DIR");
    if let Some(dir) = env {
        cmd.env("REWHO_CREDS_DIR", dir);
    }
    cmd.output().expect("run rewho")
}

fn in_dir(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--credsdir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    rewho(&all, None)
}

/// A who.ini in its own temp folder.
fn who_ini(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("who.ini");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn expect(o: &Output, code: i32, out: &str, err: &str) {
    assert_eq!(o.status.code(), Some(code), "{o:?}");
    assert_eq!(stdout(o), out, "{o:?}");
    assert_eq!(stderr(o), err, "{o:?}");
}

fn register(dir: &Path, user: &str, email: &str) -> String {
    let o = in_dir(dir, &["register", user, email]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let token = stdout(&o).trim().to_owned();
    assert_eq!(token.len(), 40, "{token}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    token
}

#[test]
fn every_subcommand_with_its_messages_and_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("creds");
    let token = register(&dir, "alice", "alice@example.org");
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(dir.join("alice.json"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    let o = in_dir(&dir, &["register", "alice", "x@example.org"]);
    expect(&o, 1, "", "rewho creds: User 'alice' already registered\n");

    expect(
        &in_dir(&dir, &["verify", "alice", &token]),
        0,
        "User verified\n",
        "",
    );
    expect(
        &in_dir(&dir, &["verify", "alice", "1234"]),
        1,
        "",
        "rewho creds: Invalid user or token\n",
    );
    // An unknown user gets the same message (issue 19, row 15: no enumeration).
    expect(
        &in_dir(&dir, &["verify", "bob", "1234"]),
        1,
        "",
        "rewho creds: Invalid user or token\n",
    );
    // The token from standard input, so it stays out of the process list.
    let mut child = Command::new(env!("CARGO_BIN_EXE_rewho"))
        .args(["creds", "verify", "alice", "-", "--credsdir"])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
    expect(&child.wait_with_output().unwrap(), 0, "User verified\n", "");

    expect(
        &in_dir(&dir, &["reset", "alice", "wrong@example.org"]),
        1,
        "",
        "rewho creds: User email does not match registered email address\n",
    );
    expect(
        &in_dir(&dir, &["reset", "bob", "bob@example.org"]),
        1,
        "",
        "rewho creds: User 'bob' not registered\n",
    );
    let o = in_dir(&dir, &["reset", "alice", "alice@example.org"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let new = stdout(&o).trim().to_owned();
    assert_eq!(new.len(), 40);
    assert_eq!(
        in_dir(&dir, &["verify", "alice", &token]).status.code(),
        Some(1)
    );
    assert_eq!(
        in_dir(&dir, &["verify", "alice", &new]).status.code(),
        Some(0)
    );

    expect(
        &in_dir(&dir, &["deregister", "alice", &token]),
        1,
        "",
        "rewho creds: Invalid token for user alice\n",
    );
    expect(
        &in_dir(&dir, &["deregister", "alice", &new]),
        0,
        "alice deregistered\n",
        "",
    );
    expect(
        &in_dir(&dir, &["deregister", "alice", &new]),
        1,
        "",
        "rewho creds: User 'alice' not registered\n",
    );

    register(&dir, "bob", "bob@example.org");
    expect(&in_dir(&dir, &["remove", "bob"]), 0, "bob removed\n", "");
    expect(
        &in_dir(&dir, &["remove", "bob"]),
        1,
        "",
        "rewho creds: User 'bob' not registered\n",
    );
    // Python's quoting of names with quotes.
    register(&dir, "o'neil", "o@example.org");
    expect(
        &in_dir(&dir, &["register", "o'neil", "o@example.org"]),
        1,
        "",
        "rewho creds: User \"o'neil\" already registered\n",
    );
}

#[test]
fn errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("creds");
    register(&dir, "alice", "a@example.org");
    for args in [
        ["register", "../evil", "e"].as_slice(),
        &["verify", "a/b", "00"],
        &["reset", "..", "e"],
        &["remove", ""],
        &["deregister", "a\\b", "00"],
    ] {
        let o = in_dir(&dir, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
        assert!(
            stderr(&o).starts_with("rewho creds: invalid user name"),
            "{}",
            stderr(&o)
        );
    }
    assert!(!tmp.path().join("evil.json").exists());

    // A corrupt file: reported with its path; alice still verifies.
    let bob = dir.join("bob.json");
    std::fs::write(&bob, "{\"email\":").unwrap();
    let o = in_dir(&dir, &["verify", "bob", "00"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        stderr(&o).contains(&format!("{}: corrupt user file", bob.display())),
        "{}",
        stderr(&o)
    );

    // No folder anywhere.
    let o = rewho(&["verify", "alice", "00"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no credentials folder"),
        "{}",
        stderr(&o)
    );
    // A folder that does not exist is only created by `register`.
    let missing = tmp.path().join("missing");
    let o = in_dir(&missing, &["verify", "alice", "00"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    assert!(!missing.exists());
    // A folder others may read: a warning, and the answer.
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = in_dir(&open, &["remove", "nobody"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "rewho creds: warning: {} has mode 755; consider `chmod 700`\n\
             rewho creds: User 'nobody' not registered\n",
            open.display()
        )
    );
    // Usage errors are clap's (exit 2).
    assert_eq!(in_dir(&dir, &["register", "alice"]).status.code(), Some(2));
}

#[test]
fn the_folder_comes_from_the_option_the_config_or_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let env_dir = tmp.path().join("from-env");
    let plugin_dir = tmp.path().join("from-plugin");

    let o = rewho(&["register", "alice", "a@example.org"], Some(&env_dir));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(env_dir.join("alice.json").is_file());

    // [creds] credsdir, relative to who.ini's folder.
    let (ini_dir, ini) = who_ini("[creds]\ncredsdir = from-ini\nnbytes = 16\n");
    let cfg = ini.to_str().unwrap();
    let o = rewho(
        &["--config", cfg, "register", "bob", "b@example.org"],
        Some(&env_dir),
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(stdout(&o).trim().len(), 32, "nbytes = 16 from the config");
    assert!(ini_dir.path().join("from-ini/bob.json").is_file());
    assert!(!env_dir.join("bob.json").exists());
    // --credsdir wins over the config.
    let o = rewho(
        &[
            "--config",
            cfg,
            "--credsdir",
            plugin_dir.to_str().unwrap(),
            "register",
            "carol",
            "c",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(stdout(&o).trim().len(), 32);
    assert!(plugin_dir.join("carol.json").is_file());

    // No [creds] credsdir: the `use = creds` plugin section's.
    let (ini2_dir, ini2) = who_ini(
        "[plugin:tokens]\nuse = creds\ncredsdir = %(here)s/plugin-creds\n\n\
         [authenticators]\nplugins = tokens\n",
    );
    let o = rewho(
        &["register", "dave", "d", "--config", ini2.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(ini2_dir.path().join("plugin-creds/dave.json").is_file());

    // A config with no folder at all, and a bad [creds] section.
    let (_d3, ini3) = who_ini("[creds]\nenabled = true\n");
    let o = rewho(&["--config", ini3.to_str().unwrap(), "remove", "x"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no `credsdir`"), "{}", stderr(&o));
    let (_d4, ini4) = who_ini("[creds]\ncredsdir = x\ncredsdri = y\n");
    let o = rewho(&["--config", ini4.to_str().unwrap(), "remove", "x"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(":3: [creds] unknown option `credsdri`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn racing_processes_register_one_winner_each() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("creds");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    for round in 0..6 {
        let user = format!("user{round}");
        let children: Vec<_> = (0..8)
            .map(|i| {
                Command::new(env!("CARGO_BIN_EXE_rewho"))
                    .args(["creds", "register", &user, &format!("{i}@example.org")])
                    .arg("--credsdir")
                    .arg(&dir)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let winners: Vec<&Output> = outputs
            .iter()
            .filter(|o| o.status.code() == Some(0))
            .collect();
        assert_eq!(winners.len(), 1, "{outputs:?}");
        for o in outputs.iter().filter(|o| o.status.code() != Some(0)) {
            expect(
                o,
                1,
                "",
                &format!("rewho creds: User '{user}' already registered\n"),
            );
        }
        let token = stdout(winners[0]).trim().to_owned();
        assert_eq!(
            in_dir(&dir, &["verify", &user, &token]).status.code(),
            Some(0)
        );
    }
    let strays: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.ends_with(".json") && n != ".rewho-creds.lock")
        .collect();
    assert!(strays.is_empty(), "{strays:?}");
}

#[test]
fn readers_never_see_a_torn_file_while_processes_reset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("creds");
    register(&dir, "alice", "alice@example.org");
    let path = dir.join("alice.json");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut tokens = Vec::new();
                for _ in 0..15 {
                    let o = in_dir(&dir, &["reset", "alice", "alice@example.org"]);
                    assert_eq!(o.status.code(), Some(0), "{o:?}");
                    tokens.push(stdout(&o).trim().to_owned());
                }
                tokens
            })
        })
        .collect();
    let reader = {
        let (stop, path) = (stop.clone(), path.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let bytes = std::fs::read(&path).expect("the file never disappears");
                let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                    panic!("torn file {:?}: {e}", String::from_utf8_lossy(&bytes))
                });
                assert_eq!(v["hashed_token"].as_str().unwrap().len(), 64);
                reads += 1;
            }
            reads
        })
    };
    let tokens: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    // Exactly one of the 45 issued tokens is valid: the last reset's.
    let valid: Vec<_> = tokens
        .iter()
        .filter(|t| in_dir(&dir, &["verify", "alice", t]).status.code() == Some(0))
        .collect();
    assert_eq!(valid.len(), 1, "{valid:?}");
}
