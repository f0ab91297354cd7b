//! The plugin against real files: loading, merging, change detection, bad lines.

use rewho_plugin_api::testing::{environ, request as test_request, TestHost};
use rewho_plugin_api::{LogLevel, Map, Request};

use super::*;

/// Warnings the plugin logged through `host`.
fn warnings(host: &TestHost) -> Vec<String> {
    host.logs(LogLevel::Warn)
}

fn request() -> Request<'static> {
    test_request("h", "127.0.0.1", &[])
}

/// The `groups` after running the plugin on an identity of `user` (with `groups` preset).
fn groups_for(p: &HtGroup, user: Value, preset: Option<Value>) -> Option<Vec<String>> {
    let mut id = Map::new();
    id.insert(USERID_KEY, user);
    if let Some(g) = preset {
        id.insert(GROUPS_KEY, g);
    }
    p.add_metadata(&request(), &mut environ(), &mut id).unwrap();
    id.get(GROUPS_KEY).map(|v| {
        v.as_list()
            .expect("groups is a list")
            .iter()
            .map(|g| g.as_str().unwrap().to_owned())
            .collect()
    })
}

#[test]
fn adds_and_merges_groups() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("groups"),
        "# teams\nadmins: alice\nstaff: alice bob 42\n",
    )
    .unwrap();
    let t = TestHost::at(0);
    let p = t
        .build(&[("filename", "groups")], dir.path().to_str().unwrap())
        .unwrap();
    assert_eq!(
        groups_for(&p, "alice".into(), None).unwrap(),
        ["admins", "staff"]
    );
    assert_eq!(groups_for(&p, Value::Int(42), None).unwrap(), ["staff"]);
    // Merged after what another plugin put there, without duplicates.
    assert_eq!(
        groups_for(&p, "bob".into(), Some(Value::from(vec!["sso", "staff"]))).unwrap(),
        ["sso", "staff"]
    );
    assert_eq!(
        groups_for(&p, "alice".into(), Some(Value::from("sso"))).unwrap(),
        ["sso", "admins", "staff"]
    );
    // A user in no group: the identity is left alone.
    assert_eq!(groups_for(&p, "carol".into(), None), None);
    assert!(warnings(&t).is_empty());
}

#[test]
fn rereads_a_changed_file_and_keeps_the_last_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("groups");
    std::fs::write(&path, "admins: alice\n").unwrap();
    let t = TestHost::at(0);
    let mut p = t
        .build(&[("filename", path.to_str().unwrap())], "/")
        .unwrap();
    assert_eq!(groups_for(&p, "alice".into(), None).unwrap(), ["admins"]);
    // Within the check interval the file is not looked at.
    std::fs::write(&path, "admins: bob\nops: alice\n").unwrap();
    assert_eq!(groups_for(&p, "alice".into(), None).unwrap(), ["admins"]);
    p.check_interval = Duration::ZERO;
    assert_eq!(groups_for(&p, "alice".into(), None).unwrap(), ["ops"]);
    assert_eq!(groups_for(&p, "bob".into(), None).unwrap(), ["admins"]);
    // Replaced by rename (a new inode, same size).
    let tmp = dir.path().join("groups.new");
    std::fs::write(&tmp, "admins: eve\nops: alice\n").unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert_eq!(groups_for(&p, "eve".into(), None).unwrap(), ["admins"]);
    // A malformed version: the last good groups stay, one warning names the line.
    std::fs::write(&path, "admins: eve\nops alice\n").unwrap();
    assert_eq!(groups_for(&p, "eve".into(), None).unwrap(), ["admins"]);
    assert_eq!(groups_for(&p, "eve".into(), None).unwrap(), ["admins"]);
    let warnings = warnings(&t);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("groups: line 2: no `:`") && warnings[0].contains("keeping"),
        "{warnings:?}"
    );
    // Gone: still the last good groups.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(groups_for(&p, "eve".into(), None).unwrap(), ["admins"]);
    // Fixed: read again.
    std::fs::write(&path, "admins: frank\n").unwrap();
    assert_eq!(groups_for(&p, "frank".into(), None).unwrap(), ["admins"]);
    assert_eq!(groups_for(&p, "eve".into(), None), None);
}

#[test]
fn start_up_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let t = TestHost::at(0);
    let e = t
        .build::<HtGroup>(&[("filename", "missing")], d)
        .err()
        .unwrap();
    assert!(
        e.0.starts_with("option `filename`: ") && e.0.contains("missing"),
        "{e}"
    );
    std::fs::write(dir.path().join("bad"), "admins: a\n\nstaff a b\n").unwrap();
    let e = t.build::<HtGroup>(&[("filename", "bad")], d).err().unwrap();
    assert_eq!(
        e.0,
        format!(
            "option `filename`: {}/bad: line 3: no `:` after the group name (`group: user1 user2`)",
            d
        )
    );
    assert!(t.build::<HtGroup>(&[], d).is_err());
    assert!(t.build::<HtGroup>(&[("filename", " ")], d).is_err());
    assert!(t
        .build::<HtGroup>(&[("filename", "bad"), ("file", "x")], d)
        .is_err());
}
