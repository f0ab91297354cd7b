//! Interop with the real repoze.who 3.1.0 (`tests/python/authtkt_oracle.py`).
//!
//! Python is `$REWHO_PYTHON`, else `<workspace>/.venv/bin/python` (made by
//! `tests/python/setup-venv.sh`). Without it these tests FAIL: they are the proof that users'
//! cookies survive the move from Python.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use rewho_plugin_api::testing::{environ, headers, request, TestHost};
use rewho_plugin_api::{
    Authenticator, Environ, HeaderField, Identifier, Identity, Map, Value, USERID_KEY,
};
use rewho_plugin_auth_tkt::ticket::{mint, parse_ticket, ClientIp, DigestAlgo};
use rewho_plugin_auth_tkt::AuthTkt;
use serde_json::{json, Value as Json};

const NOW: i64 = 1_700_000_000;
const SECRET: &str = "s3cr3t-shared";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("REWHO_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = workspace().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "the Python interop oracle needs repoze.who: run `bash tests/python/setup-venv.sh` \
         (creates {}) or set REWHO_PYTHON to a python with repoze.who 3.1.0",
        venv.display()
    );
    venv
}

/// Sends a batch of requests to the oracle and returns its answers.
fn oracle(requests: &[Json]) -> Vec<Json> {
    let script = workspace().join("tests/python/authtkt_oracle.py");
    let mut child = Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python().display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(requests).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Json> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answers.len(), requests.len());
    answers
}

/// Our value in the oracle's JSON (integers as `{"int": N}`).
fn to_oracle(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!({ "int": i }),
        Value::Float(x) => json!(x),
        Value::Str(s) => json!(s.as_str()),
        Value::List(l) => Json::Array(l.iter().map(to_oracle).collect()),
        Value::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.to_owned(), to_oracle(v)))
                .collect(),
        ),
    }
}

/// repoze.who's identity in our terms, with its one deliberate difference undone: an empty
/// token string is `[]` here, `[""]` there.
fn normalise_python_identity(mut id: Json) -> Json {
    if let Some(tokens) = id.get_mut("tokens") {
        if *tokens == json!([""]) {
            *tokens = json!([]);
        }
    }
    id
}

fn algo(name: &str) -> DigestAlgo {
    DigestAlgo::from_name(name).unwrap()
}

/// The cases both directions use: (userid, is_int, tokens, user_data, ip).
fn cases() -> Vec<(String, bool, Vec<&'static str>, &'static str, &'static str)> {
    let mut out = Vec::new();
    for userid in [
        "alice",
        "méline",
        "用户",
        "a@b.example",
        "dir/user",
        "sp ace+%",
        "",
    ] {
        out.push((userid.to_owned(), false, vec![], "", "0.0.0.0"));
    }
    out.push(("bob".into(), false, vec!["admin"], "", "0.0.0.0"));
    out.push((
        "carol".into(),
        false,
        vec!["editors", "staff"],
        "k=v&x=y+z",
        "0.0.0.0",
    ));
    out.push(("dave".into(), false, vec![], "only=data", "10.1.2.3"));
    out.push(("42".into(), true, vec![], "userid_type=int", "0.0.0.0"));
    out.push((
        "0".into(),
        true,
        vec!["t"],
        "userid_type=int",
        "192.168.0.1",
    ));
    out
}

#[test]
fn python_tickets_parse_here_and_ours_parse_there() {
    let mut requests = Vec::new();
    let mut expected = Vec::new();
    for digest in ["md5", "sha256", "sha512"] {
        for (userid, _, tokens, data, ip) in cases() {
            let time = NOW - 17;
            requests.push(
                json!({"op": "mint", "secret": SECRET, "userid": userid, "ip": ip,
                "tokens": tokens, "user_data": data, "time": time, "digest_algo": digest}),
            );
            let ours = mint(
                SECRET.as_bytes(),
                algo(digest),
                &ClientIp::parse(ip).unwrap(),
                time as u32,
                &userid,
                &tokens,
                data,
            )
            .unwrap();
            expected.push((digest, userid, tokens, data, ip, time, ours));
        }
    }
    let minted = oracle(&requests);
    let mut parse_requests = Vec::new();
    for ((digest, userid, tokens, data, ip, time, ours), answer) in expected.iter().zip(&minted) {
        let theirs = answer["value"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        // Byte-identical tickets for the same inputs.
        assert_eq!(theirs, ours, "{digest} {userid}");
        // Python's ticket parses here with the same fields.
        let t = parse_ticket(
            SECRET.as_bytes(),
            theirs,
            &ClientIp::parse(ip).unwrap(),
            algo(digest),
        )
        .unwrap_or_else(|e| panic!("{digest} {userid}: {e}"));
        assert_eq!(t.timestamp as i64, *time);
        assert_eq!(t.userid, userid.as_str());
        assert_eq!(t.token_list(), *tokens);
        assert_eq!(t.user_data, *data);
        parse_requests.push(json!({"op": "parse", "secret": SECRET, "ticket": ours,
            "ip": ip, "digest_algo": digest}));
    }
    // Ours parse in Python with the same fields.
    for ((_, userid, tokens, data, _, time, _), answer) in
        expected.iter().zip(oracle(&parse_requests))
    {
        assert_eq!(answer["timestamp"], json!(time), "{answer}");
        assert_eq!(answer["userid"], json!(userid));
        let want: Vec<&str> = if tokens.is_empty() {
            vec![""]
        } else {
            tokens.clone()
        };
        assert_eq!(answer["tokens"], json!(want));
        assert_eq!(answer["user_data"], json!(data));
    }
}

fn plugin_json(opts: &[(&str, &str)]) -> Json {
    let mut kw = serde_json::Map::new();
    kw.insert("secret".into(), json!(SECRET));
    for (k, v) in opts {
        let value = match *k {
            "secure" | "include_ip" => json!(*v == "true"),
            "timeout" | "reissue_time" => json!(v.parse::<i64>().unwrap()),
            _ => json!(v),
        };
        kw.insert((*k).to_owned(), value);
    }
    Json::Object(kw)
}

fn build(opts: &[(&str, &str)]) -> (TestHost, AuthTkt) {
    let host = TestHost::at(NOW);
    let mut all = vec![("secret", SECRET)];
    all.extend_from_slice(opts);
    // repoze.who couples HttpOnly to `secure`; rewho sends it by default. Compare like with
    // like.
    let secure = opts.iter().any(|&(k, v)| k == "secure" && v == "true");
    all.push(("httponly", if secure { "true" } else { "false" }));
    // rewho defaults to `SameSite=Lax`, repoze.who to no attribute: likewise.
    if !opts.iter().any(|&(k, _)| k == "samesite") {
        all.push(("samesite", ""));
    }
    let p = host.build::<AuthTkt>(&all, "/").unwrap();
    (host, p)
}

fn header_pairs(h: &[HeaderField]) -> Json {
    Json::Array(
        h.iter()
            .map(|h| json!([h.name.as_str(), h.value.as_str()]))
            .collect(),
    )
}

/// identify + authenticate here, as the oracle's `identify` does there.
fn our_identity(p: &AuthTkt, cookie: &str, remote: &str) -> (Json, Environ<'static>) {
    let h = headers(&[("Cookie", cookie)]);
    let req = request("example.com", remote, &h);
    let mut env = environ();
    let id = p
        .identify(&req, &mut env)
        .unwrap()
        .and_then(|mut id| p.authenticate(&req, &mut env, &mut id).unwrap().map(|_| id));
    (id.map_or(Json::Null, |id| to_oracle(&Value::Map(id))), env)
}

fn identity_for(userid: &str, is_int: bool, tokens: &[&str], data: &str) -> Identity {
    let mut id = Map::new();
    if is_int {
        id.insert(USERID_KEY, userid.parse::<i64>().unwrap());
    } else {
        id.insert(USERID_KEY, userid);
    }
    if !tokens.is_empty() {
        id.insert("tokens", tokens.to_vec());
    }
    let mut ud = Map::new();
    for pair in data
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("userid_type"))
    {
        let (k, v) = pair.split_once('=').unwrap();
        ud.insert(k.to_owned(), v.replace('+', " "));
    }
    if !ud.is_empty() {
        id.insert("userdata", ud);
    }
    id
}

#[test]
fn remember_and_forget_headers_equal_python() {
    let option_sets: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("secure", "true")],
        vec![
            ("secure", "true"),
            ("samesite", "Strict"),
            ("digest_algo", "sha512"),
        ],
        vec![
            ("samesite", "Lax"),
            ("cookie_name", "tkt"),
            ("digest_algo", "sha256"),
        ],
        vec![
            ("include_ip", "true"),
            ("timeout", "600"),
            ("reissue_time", "60"),
        ],
    ];
    let mut requests = Vec::new();
    let mut ours = Vec::new();
    for opts in &option_sets {
        let (_, p) = build(opts);
        for (userid, is_int, tokens, data, ip) in cases() {
            for (host, max_age) in [("example.com:8080", None), ("www.example.org", Some(3600))] {
                let mut id = identity_for(&userid, is_int, &tokens, data);
                if let Some(age) = max_age {
                    id.insert("max_age", age as i64);
                }
                let h = headers(&[]);
                let req = request(host, ip, &h);
                let out = p.remember(&req, &mut environ(), &id).unwrap();
                ours.push(header_pairs(&out));
                requests.push(json!({"op": "remember", "plugin": plugin_json(opts),
                    "environ": {"HTTP_HOST": host, "REMOTE_ADDR": ip},
                    "identity": to_oracle(&Value::Map(id)), "now": NOW}));
            }
        }
        let h = headers(&[]);
        let req = request("shop.example.net:443", "10.0.0.9", &h);
        ours.push(header_pairs(
            &p.forget(&req, &mut environ(), &Map::new()).unwrap(),
        ));
        requests.push(json!({"op": "forget", "plugin": plugin_json(opts),
            "environ": {"HTTP_HOST": "shop.example.net:443", "REMOTE_ADDR": "10.0.0.9"},
            "now": NOW}));
    }
    let answers = oracle(&requests);
    let mut compared = 0;
    for ((req, answer), mine) in requests.iter().zip(&answers).zip(&ours) {
        let theirs = &answer["headers"];
        if req["identity"][USERID_KEY] == json!("") && (*theirs == json!([]) || theirs.is_null()) {
            // repoze.who never remembers an empty user id without a previous cookie (its
            // "old" data defaults to the same empty values), and with `reissue_time` it
            // raises TypeError (`None + reissue_time`); we remember it.
            assert_eq!(mine.as_array().unwrap().len(), 3);
            continue;
        }
        assert_eq!(theirs, mine, "request {req}");
        compared += 1;
    }
    assert!(compared > 100, "compared {compared}");
}

#[test]
fn cookies_from_python_remember_identify_the_same_here_and_vice_versa() {
    let option_sets: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("digest_algo", "sha256")],
        vec![("digest_algo", "sha512"), ("include_ip", "true")],
    ];
    for opts in &option_sets {
        let (_, p) = build(opts);
        let mut remember_requests = Vec::new();
        let mut our_cookies = Vec::new();
        for (userid, is_int, tokens, data, ip) in cases().into_iter().filter(|c| !c.0.is_empty()) {
            let id = identity_for(&userid, is_int, &tokens, data);
            remember_requests.push(json!({"op": "remember", "plugin": plugin_json(opts),
                "environ": {"HTTP_HOST": "example.com", "REMOTE_ADDR": ip},
                "identity": to_oracle(&Value::Map(id.clone())), "now": NOW}));
            let h = headers(&[]);
            let req = request("example.com", ip, &h);
            let out = p.remember(&req, &mut environ(), &id).unwrap();
            let v = out[0].value.as_str();
            our_cookies.push((v[..v.find(';').unwrap()].to_owned(), ip));
        }
        let python_cookies: Vec<(String, &str)> = oracle(&remember_requests)
            .iter()
            .zip(&our_cookies)
            .map(|(a, (_, ip))| {
                let v = a["headers"][0][1].as_str().unwrap();
                (v[..v.find(';').unwrap()].to_owned(), *ip)
            })
            .collect();
        // Both sides identify both sides' cookies.
        let mut identify_requests = Vec::new();
        let mut mine = Vec::new();
        for (cookie, ip) in python_cookies.iter().chain(&our_cookies) {
            identify_requests.push(json!({"op": "identify", "plugin": plugin_json(opts),
                "environ": {"HTTP_COOKIE": cookie, "HTTP_HOST": "example.com", "REMOTE_ADDR": ip},
                "now": NOW + 1}));
            mine.push(our_identity(&p, cookie, ip));
        }
        for ((answer, (ours, env)), req) in oracle(&identify_requests)
            .into_iter()
            .zip(mine)
            .zip(&identify_requests)
        {
            let theirs = normalise_python_identity(answer["identity"].clone());
            assert!(!theirs.is_null(), "python refused {req}");
            assert_eq!(theirs, ours, "{req}");
            let env_theirs = &answer["environ"];
            assert_eq!(
                env_theirs["REMOTE_USER_DATA"].as_str(),
                env.get_str("REMOTE_USER_DATA")
            );
            assert_eq!(env_theirs["AUTH_TYPE"].as_str(), env.get_str("AUTH_TYPE"));
        }
    }
}

#[test]
fn tampered_expired_and_wrong_algorithm_cookies_are_refused_by_both() {
    let (_, p) = build(&[]);
    let (host_t, p_timeout) = build(&[("timeout", "60"), ("reissue_time", "30")]);
    let (_, p_sha) = build(&[("digest_algo", "sha256")]);
    let good = mint(
        SECRET.as_bytes(),
        DigestAlgo::Md5,
        &ClientIp::UNSPECIFIED,
        NOW as u32,
        "alice",
        &["admin"],
        "k=v",
    )
    .unwrap();
    let mut flipped_digest = good.clone().into_bytes();
    flipped_digest[0] = if flipped_digest[0] == b'0' {
        b'1'
    } else {
        b'0'
    };
    let tampered = [
        good.replace("alice", "alicf"),
        good.replace("!admin!", "!root!"),
        good.replace("k=v", "k=w"),
        good.replace(&format!("{NOW:08x}"), &format!("{:08x}", NOW + 1)),
        String::from_utf8(flipped_digest).unwrap(),
        good.to_uppercase(),
        format!("{good}x"),
    ];
    let mut requests = Vec::new();
    for t in &tampered {
        requests.push(json!({"op": "parse", "secret": SECRET, "ticket": t, "digest_algo": "md5"}));
        assert!(parse_ticket(
            SECRET.as_bytes(),
            t,
            &ClientIp::UNSPECIFIED,
            DigestAlgo::Md5
        )
        .is_err());
        assert!(our_identity(&p, &format!("auth_tkt={t}"), "").0.is_null());
    }
    // The good one, for contrast, and under the wrong algorithm / secret.
    requests.push(json!({"op": "parse", "secret": SECRET, "ticket": good, "digest_algo": "md5"}));
    requests
        .push(json!({"op": "parse", "secret": SECRET, "ticket": good, "digest_algo": "sha256"}));
    requests.push(json!({"op": "parse", "secret": "other", "ticket": good, "digest_algo": "md5"}));
    assert!(our_identity(&p_sha, &format!("auth_tkt={good}"), "")
        .0
        .is_null());
    // Expired: timeout 60, an hour later.
    host_t.set_now(NOW + 3600, 0);
    assert!(our_identity(&p_timeout, &format!("auth_tkt={good}"), "")
        .0
        .is_null());
    requests.push(json!({"op": "identify",
        "plugin": plugin_json(&[("timeout", "60"), ("reissue_time", "30")]),
        "environ": {"HTTP_COOKIE": format!("auth_tkt={good}"), "HTTP_HOST": "h"},
        "now": NOW + 3600}));
    requests.push(json!({"op": "identify",
        "plugin": plugin_json(&[("timeout", "60"), ("reissue_time", "30")]),
        "environ": {"HTTP_COOKIE": format!("auth_tkt={good}"), "HTTP_HOST": "h"},
        "now": NOW + 30}));
    let answers = oracle(&requests);
    let n = tampered.len();
    for (t, a) in tampered.iter().zip(&answers[..n]) {
        assert!(
            a["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("BadTicket")),
            "python accepted {t}: {a}"
        );
    }
    assert_eq!(answers[n]["userid"], json!("alice"));
    assert!(answers[n + 1]["error"].is_string(), "wrong algorithm");
    assert!(answers[n + 2]["error"].is_string(), "wrong secret");
    assert!(answers[n + 3]["identity"].is_null(), "expired");
    assert_eq!(
        answers[n + 4]["identity"]["repoze.who.userid"],
        json!("alice"),
        "not yet expired"
    );
}

#[test]
fn python_re_mints_tokenless_tickets_and_we_do_not() {
    // The repoze.who bug this plugin fixes, shown against the real thing.
    let (host, p) = build(&[]);
    let cookie = format!(
        "auth_tkt={}",
        mint(
            SECRET.as_bytes(),
            DigestAlgo::Md5,
            &ClientIp::UNSPECIFIED,
            NOW as u32,
            "alice",
            &[],
            ""
        )
        .unwrap()
    );
    let answers = oracle(&[json!({"op": "remember", "plugin": plugin_json(&[]),
        "environ": {"HTTP_COOKIE": cookie, "HTTP_HOST": "example.com"},
        "identity": {"repoze.who.userid": "alice"}, "now": NOW + 5})]);
    assert_eq!(
        answers[0]["headers"].as_array().unwrap().len(),
        3,
        "{}",
        answers[0]
    );
    host.set_now(NOW + 5, 0);
    let h = headers(&[("Cookie", &cookie)]);
    let req = request("example.com", "", &h);
    let mut id = Map::new();
    id.insert(USERID_KEY, "alice");
    assert!(p.remember(&req, &mut environ(), &id).unwrap().is_empty());
}
