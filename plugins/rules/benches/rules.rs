//! 100 compiled rules against a request that matches none of them (the worst case for a
//! first-match list): the target is ≤ 1 µs median.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rewho_plugin_rules::engine::{Effect, RuleSet, Subject, Target};

/// 100 rules of the shapes real configs use: per-app prefixes, hosts, methods, globs.
fn hundred_rules() -> String {
    let mut text = String::new();
    for i in 0..100 {
        let line = match i % 5 {
            0 => format!("/app{i}/** group:team{i}\n"),
            1 => format!("GET,HEAD /static{i}/*.css anyone\n"),
            2 => format!("app{i}.example.com/admin/** group:admins user:root\n"),
            3 => format!("POST,PUT /api/v{i}/**/items group:writers&net:10.0.0.0/8\n"),
            _ => format!("*.svc{i}.example.com/** authenticated\n"),
        };
        text.push_str(&line);
    }
    text
}

fn bench(c: &mut Criterion) {
    let set = RuleSet::compile(&hundred_rules()).unwrap();
    let groups = ["staff", "users"];
    let subject = Subject {
        user: Some("alice"),
        groups: &groups,
    };
    let target = Target {
        method: "POST",
        host: "www.example.org",
        path: "/nothing/here/at/all",
        client: Some("192.0.2.7".parse().unwrap()),
    };
    assert_eq!(set.evaluate(&subject, &target).effect, Effect::Abstain);
    c.bench_function("100 rules, miss-all", |b| {
        b.iter(|| set.evaluate(black_box(&subject), black_box(&target)).effect)
    });
    let last = Target {
        method: "GET",
        host: "a.svc99.example.com",
        path: "/x/y",
        client: None,
    };
    assert_eq!(set.evaluate(&subject, &last).rule.unwrap().number(), 100);
    c.bench_function("100 rules, last matches", |b| {
        b.iter(|| set.evaluate(black_box(&subject), black_box(&last)).effect)
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
