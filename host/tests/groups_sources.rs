//! The identity's `groups` (what the `rules` authorizer's `group:` reads) from the bundled
//! sources, through the real host: the `header` plugin's `groups_attribute` on the front
//! end's login request and, replayed by `metadata_cache`, on later session-only requests,
//! merged with an `htgroup` file.
//!
//! Needs `cargo build --workspace` (the plugin `.so` files).

mod caching_support;
mod common;

use caching_support::{authenticate, require_plugins, Setup};
use rewho::{OwnedRequest, Value};

const INI: &str = r#"
[plugin:sso]
use = header
attribute_headers = X-Forwarded-Groups:groups
list_attributes = groups
groups_attribute = groups
rememberer_name = session

[plugin:session]
use = @TESTKIT@:header_identifier

[plugin:accept]
use = @TESTKIT@:accept
logins = *

[plugin:attrs]
use = metadata_cache

[plugin:files]
use = htgroup
filename = @DIR@/groups

[identifiers]
plugins = sso session attrs
[authenticators]
plugins = sso accept
[mdproviders]
plugins =
    attrs
    sso
    files
"#;

fn groups(req: &OwnedRequest, f: &rewho::ApiFactory) -> Option<Value> {
    let (id, _) = authenticate(f, req, "-");
    id.expect("authenticated").get("groups").cloned()
}

#[test]
fn header_metadata_cache_and_htgroup_fill_groups() {
    require_plugins(&["metadata_cache", "header", "testkit", "htgroup"]);
    let s = Setup::new(INI);
    std::fs::write(s.path("groups"), "ops: alice carol\nadmins: alice\n").unwrap();
    let f = s.factory();
    // The front end's login: its groups, then the file's, no duplicates.
    let login = OwnedRequest::get("/login")
        .header("X-Forwarded-User", "alice")
        .header("X-Forwarded-Groups", "staff, admins");
    assert_eq!(
        groups(&login, &f),
        Some(Value::from(vec!["staff", "admins", "ops"]))
    );
    // A later request with the session only: metadata_cache replays the attribute map, the
    // header plugin (listed after it) turns it into groups again.
    let later = OwnedRequest::get("/app").header("X-Test-Login", "alice");
    assert_eq!(
        groups(&later, &f),
        Some(Value::from(vec!["staff", "admins", "ops"]))
    );
    // A user who never came through the front end: the file's groups only.
    let carol = OwnedRequest::get("/app").header("X-Test-Login", "carol");
    assert_eq!(groups(&carol, &f), Some(Value::from(vec!["ops"])));
    // Headers from an untrusted address count for nothing.
    let mut spoofed = OwnedRequest::get("/login")
        .header("X-Forwarded-User", "mallory")
        .header("X-Forwarded-Groups", "admins");
    spoofed.peer_addr = "192.0.2.66".into();
    spoofed.client_addr = "192.0.2.66".into();
    assert!(authenticate(&f, &spoofed, "-").0.is_none());
}

#[test]
fn group_options_are_checked() {
    require_plugins(&["metadata_cache", "header", "testkit", "htgroup"]);
    let s = Setup::new(&INI.replace("groups_attribute = groups", "groups_attribute = teams"));
    std::fs::write(s.path("groups"), "ops: alice\n").unwrap();
    let e = s.factory_error();
    assert!(
        e.contains("[plugin:sso]") && e.contains("`teams` is not one of `list_attributes`"),
        "{e}"
    );
    let s = Setup::new(INI);
    std::fs::write(s.path("groups"), "ops: alice\nadmins alice\n").unwrap();
    let e = s.factory_error();
    assert!(
        e.contains("[plugin:files]") && e.contains("groups: line 2: no `:`"),
        "{e}"
    );
}
