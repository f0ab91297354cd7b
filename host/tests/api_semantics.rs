//! repoze.who's API behaviours, end to end through plugins loaded from their `.so`:
//! ranking, classification, metadata, challenge, login/logout, remember after logout,
//! pass-through, and the userid bug repoze.who has.

mod common;

use common::who_ini;
use rewho::{
    ApiFactory, Egress, EnvironState, HeaderField, Identity, Ingress, OwnedRequest, Value,
};

const CHAINS: &str = r#"
[plugin:id_a]
use = testkit:header_identifier
login_header = X-Login-A
password_header = X-Pass-A

[plugin:id_b]
use = testkit:header_identifier
login_header = X-Login-B

[plugin:auth_1]
use = testkit:accept
logins = bob
userid = bob-from-1

[plugin:auth_2]
use = testkit:accept
logins = alice bob
tag = two

[plugin:md]
use = testkit:add_metadata
key = email
value = someone@example.org

[plugin:decline]
use = testkit:marker_challenger
decline = true

[plugin:chal]
use = testkit:marker_challenger

[identifiers]
plugins =
    id_a
    id_b

[authenticators]
plugins = auth_1 auth_2

[challengers]
plugins = decline chal

[mdproviders]
plugins = md
"#;

fn factory(text: &str) -> (common::WhoIni, ApiFactory) {
    let ini = who_ini(text);
    let f = ApiFactory::from_config_file(&ini.path).unwrap_or_else(|e| panic!("{e}"));
    (ini, f)
}

#[test]
fn ranking_prefers_authenticator_order_then_identifier_order() {
    let (_ini, f) = factory(CHAINS);
    // id_a finds alice, id_b finds bob. auth_1 (first) only accepts bob, so bob wins even
    // though alice's identifier ranks first.
    let req = OwnedRequest::get("/")
        .header("X-Login-A", "alice")
        .header("X-Login-B", "bob");
    req.with_view(|view| {
        let mut api = f.api(view);
        let id = api.authenticate().cloned().expect("authenticated");
        assert_eq!(id.userid(), Some(&Value::from("bob-from-1")));
        assert_eq!(id.get_str("identifier"), Some("id_b"));
        assert_eq!(id.get_str("authenticator"), Some("auth_1"));
        assert_eq!(id.get_str("login"), Some("bob"));
        // REMOTE_USER agrees with the identity.
        assert_eq!(
            api.environ().get("REMOTE_USER"),
            Some(&Value::from("bob-from-1"))
        );
    });
    // Only alice: auth_1 declines, auth_2 accepts.
    let req = OwnedRequest::get("/").header("X-Login-A", "alice");
    req.with_view(|view| {
        let mut api = f.api(view);
        let id = api.authenticate().cloned().expect("authenticated");
        assert_eq!(id.userid(), Some(&Value::from("alice")));
        assert_eq!(id.get_str("authenticator"), Some("auth_2"));
        assert_eq!(id.get_str("identifier"), Some("id_a"));
    });
}

#[test]
fn two_accepting_authenticators_leave_the_winners_userid_in_identity_and_remote_user() {
    // repoze.who stamps each accepting authenticator's userid on the shared identity, so the
    // identity ends with auth_2's "bob" while REMOTE_USER is auth_1's "bob-from-1".
    let (_ini, f) = factory(CHAINS);
    let req = OwnedRequest::get("/").header("X-Login-B", "bob");
    req.with_view(|view| {
        let mut api = f.api(view);
        let id = api.authenticate().cloned().expect("authenticated");
        assert_eq!(id.userid(), Some(&Value::from("bob-from-1")));
        assert_eq!(api.environ().get("REMOTE_USER"), id.userid());
        // auth_2 still ran on the identity, as in repoze.who (it tags what it sees).
        assert_eq!(id.get_str("tagged_by"), Some("two"));
    });
}

#[test]
fn metadata_runs_on_the_winner_only_and_sees_the_userid() {
    let (_ini, f) = factory(CHAINS);
    let req = OwnedRequest::get("/").header("X-Login-A", "alice");
    req.with_view(|view| {
        let mut api = f.api(view);
        let id = api.authenticate().cloned().unwrap();
        assert_eq!(id.get_str("email"), Some("someone@example.org"));
        assert_eq!(id.get("md_saw_userid"), Some(&Value::from("alice")));
        let edits = api.environ().downstream_edits();
        assert_eq!(edits.len(), 1);
        assert_eq!(edits[0].name.as_str(), "X-Test-Md");
    });
    // No identity → metadata providers never run.
    let req = OwnedRequest::get("/").header("X-Login-A", "mallory");
    req.with_view(|view| {
        let mut api = f.api(view);
        assert!(api.authenticate().is_none());
        assert!(api.environ().downstream_edits().is_empty());
        assert!(api.environ().get("REMOTE_USER").is_none());
    });
}

#[test]
fn userid_zero_and_empty_string_are_valid() {
    for (userid, int) in [("0", "true"), ("", "false")] {
        let text = format!(
            "[plugin:id]\nuse = testkit:header_identifier\n\n[plugin:acc]\nuse = testkit:accept\nlogins = *\nuserid = {userid}\nint_userid = {int}\n\n[identifiers]\nplugins = id\n[authenticators]\nplugins = acc\n"
        );
        let (_ini, f) = factory(&text);
        let req = OwnedRequest::get("/").header("X-Test-Login", "zero");
        req.with_view(|view| {
            let mut api = f.api(view);
            let id = api
                .authenticate()
                .cloned()
                .expect("userid 0 / \"\" must authenticate");
            let expected = if int == "true" {
                Value::Int(0)
            } else {
                Value::from("")
            };
            assert_eq!(id.userid(), Some(&expected));
        });
    }
}

#[test]
fn classifiers_filter_plugins_and_unfiltered_plugins_match_everything() {
    let text = r#"
[plugin:cls]
use = testkit:header_classifier

[plugin:browser_id]
use = testkit:header_identifier
login_header = X-Login-A

[plugin:dav_id]
use = testkit:header_identifier
login_header = X-Login-B

[plugin:any]
use = testkit:accept
logins = *

[plugin:dav_chal]
use = testkit:marker_challenger

[plugin:browser_chal]
use = testkit:marker_challenger

[general]
request_classifier = cls
challenge_decider = cls

[identifiers]
plugins = browser_id;browser dav_id;dav
[authenticators]
plugins = any
[challengers]
plugins = dav_chal;dav browser_chal;browser
"#;
    let (_ini, f) = factory(text);
    let req = OwnedRequest::get("/")
        .header("X-Class", "dav")
        .header("X-Login-A", "a")
        .header("X-Login-B", "b");
    req.with_view(|view| {
        let mut api = f.api(view);
        assert_eq!(api.classification(), "dav");
        let id = api.authenticate().cloned().unwrap();
        assert_eq!(id.get_str("identifier"), Some("dav_id"));
        let r = api.challenge(401, &[]).unwrap();
        assert_eq!(r.header("X-Challenger"), Some("dav_chal"));
    });
    let req = OwnedRequest::get("/")
        .header("X-Login-A", "a")
        .header("X-Login-B", "b");
    req.with_view(|view| {
        let mut api = f.api(view);
        assert_eq!(api.classification(), "browser");
        let id = api.authenticate().cloned().unwrap();
        assert_eq!(id.get_str("identifier"), Some("browser_id"));
        assert_eq!(
            api.challenge(401, &[]).unwrap().header("X-Challenger"),
            Some("browser_chal")
        );
    });
    // A classification nobody is filtered for: only unfiltered plugins (none here) run.
    let req = OwnedRequest::get("/")
        .header("X-Class", "xmlpost")
        .header("X-Login-A", "a");
    req.with_view(|view| {
        let mut api = f.api(view);
        assert!(api.authenticate().is_none());
        assert!(api.challenge(401, &[]).is_none());
    });
    // The custom decider also challenges 403.
    let req = OwnedRequest::get("/");
    req.with_view(|view| {
        let mut api = f.api(view);
        api.ingress();
        assert!(matches!(api.egress(403, &[]), Egress::Challenge(_)));
    });
}

#[test]
fn first_challenger_that_answers_wins_and_carries_forget_headers() {
    let (_ini, f) = factory(CHAINS);
    let req = OwnedRequest::get("/").header("X-Login-A", "alice");
    req.with_view(|view| {
        let mut api = f.api(view);
        api.authenticate();
        let app_headers = [HeaderField::new("Content-Type", "text/plain")];
        let r = api.challenge(401, &app_headers).expect("chal answers");
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("X-Challenger"),
            Some("chal"),
            "decline passes, chal answers"
        );
        assert_eq!(
            r.header("X-Forget"),
            Some("id_a"),
            "forget headers of the identity's identifier"
        );
    });
}

#[test]
fn egress_challenges_401_and_remembers_otherwise() {
    let (_ini, f) = factory(CHAINS);
    let req = OwnedRequest::get("/").header("X-Login-A", "alice");
    req.with_view(|view| {
        let mut api = f.api(view);
        assert!(matches!(api.ingress(), Ingress::Continue));
        match api.egress(200, &[]) {
            Egress::Remember(h) => {
                assert_eq!(h, vec![HeaderField::new("X-Remember", "id_a=alice")])
            }
            other => panic!("expected remember, got {other:?}"),
        }
    });
    let req = OwnedRequest::get("/");
    req.with_view(|view| {
        let mut api = f.api(view);
        api.ingress();
        match api.egress(401, &[]) {
            Egress::Challenge(r) => assert_eq!(r.header("X-App-Status"), Some("401")),
            other => panic!("expected challenge, got {other:?}"),
        }
        // The default decider leaves 403 alone.
        assert!(matches!(api.egress(403, &[]), Egress::Remember(h) if h.is_empty()));
    });
}

#[test]
fn no_challenger_answering_is_reported() {
    let text = "[plugin:decline]\nuse = testkit:marker_challenger\ndecline = true\n[challengers]\nplugins = decline\n";
    let (_ini, f) = factory(text);
    OwnedRequest::get("/").with_view(|view| {
        let mut api = f.api(view);
        api.ingress();
        assert!(matches!(api.egress(401, &[]), Egress::NoChallenger));
    });
}

#[test]
fn login_remembers_with_every_identifier_or_forgets_on_failure() {
    let (_ini, f) = factory(CHAINS);
    OwnedRequest::get("/login").with_view(|view| {
        let mut api = f.api(view);
        let creds: Identity = [("login", "alice"), ("password", "x")]
            .into_iter()
            .collect();
        let (identity, headers) = api.login(creds, None);
        let identity = identity.expect("alice logs in");
        assert_eq!(identity.userid(), Some(&Value::from("alice")));
        assert_eq!(
            headers,
            vec![
                HeaderField::new("X-Remember", "id_a=alice"),
                HeaderField::new("X-Remember", "id_b=alice"),
            ]
        );
        // One identifier only.
        let creds: Identity = [("login", "bob")].into_iter().collect();
        let (identity, headers) = api.login(creds, Some("id_b"));
        assert_eq!(identity.unwrap().userid(), Some(&Value::from("bob-from-1")));
        assert_eq!(
            headers,
            vec![HeaderField::new("X-Remember", "id_b=bob-from-1")]
        );
        // Failure: forget headers from every identifier.
        let creds: Identity = [("login", "mallory")].into_iter().collect();
        let (identity, headers) = api.login(creds, None);
        assert!(identity.is_none());
        assert_eq!(
            headers,
            vec![
                HeaderField::new("X-Forget", "id_a"),
                HeaderField::new("X-Forget", "id_b")
            ]
        );
        // Unknown identifier name: nothing to do.
        let creds: Identity = [("login", "alice")].into_iter().collect();
        let (identity, headers) = api.login(creds, Some("nope"));
        assert!(identity.is_none() && headers.is_empty());
    });
}

#[test]
fn logout_clears_the_identity_and_remember_is_skipped_afterwards() {
    let (_ini, f) = factory(CHAINS);
    let req = OwnedRequest::get("/").header("X-Login-A", "alice");
    req.with_view(|view| {
        let mut api = f.api(view);
        assert!(api.authenticate().is_some());
        let headers = api.logout(None);
        assert_eq!(
            headers,
            vec![
                HeaderField::new("X-Forget", "id_a"),
                HeaderField::new("X-Forget", "id_b")
            ]
        );
        assert!(api.identity().is_none());
        assert!(
            api.authenticate().is_none(),
            "identity stays cleared for this request"
        );
        assert!(api.remember(None).is_empty());
        assert!(matches!(api.egress(200, &[]), Egress::Remember(h) if h.is_empty()));
        // remember(identity) with an explicit identity still works.
        let mut id = Identity::new();
        id.insert("repoze.who.userid", "carol");
        id.insert("identifier", "id_b");
        assert_eq!(
            api.remember(Some(&id)),
            vec![HeaderField::new("X-Remember", "id_b=carol")]
        );
        assert_eq!(
            api.forget(Some(&id)),
            vec![HeaderField::new("X-Forget", "id_b")]
        );
    });
}

#[test]
fn an_already_set_remote_user_passes_through() {
    let (_ini, f) = factory(CHAINS);
    let req = OwnedRequest::get("/").header("X-Login-A", "alice");
    req.with_view(|view| {
        let mut env = EnvironState::new();
        env.set("REMOTE_USER", "set-by-server");
        let mut api = f.api_with_environ(view, env);
        assert!(matches!(api.ingress(), Ingress::PassThrough));
        assert!(api.identity().is_none());
    });
}

#[test]
fn remote_user_key_is_configurable() {
    let text = format!("{CHAINS}\n[general]\nremote_user_key = HTTP_X_USER\n");
    let (_ini, f) = factory(&text);
    assert_eq!(f.remote_user_key(), "HTTP_X_USER");
    OwnedRequest::get("/")
        .header("X-Login-A", "alice")
        .with_view(|view| {
            let mut api = f.api(view);
            api.authenticate();
            assert_eq!(
                api.environ().get("HTTP_X_USER"),
                Some(&Value::from("alice"))
            );
            assert!(api.environ().get("REMOTE_USER").is_none());
        });
}

#[test]
fn the_factory_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ApiFactory>();
    let (_ini, f) = factory(CHAINS);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let f = f.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let login = if i % 2 == 0 { "alice" } else { "bob" };
                    OwnedRequest::get("/")
                        .header("X-Login-A", login)
                        .with_view(|view| {
                            let mut api = f.api(view);
                            let id = api.authenticate().cloned().unwrap();
                            let expect = if login == "bob" {
                                "bob-from-1"
                            } else {
                                "alice"
                            };
                            assert_eq!(id.userid(), Some(&Value::from(expect)));
                        });
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
