//! Connection abuse against `rewho serve` from a client that is not on loopback (issue 19,
//! row 6): silent connections (a slowloris) and descriptor exhaustion. Each test makes its own
//! network namespace ([`NetNs`]) and attacks rewho listening on the namespace's host side.
//! Before the connection limits, the first test never got its answer: the silent connections
//! used up the 256 descriptors and rewho's accept loop logged "Too many open files".
#![cfg(feature = "server")]

mod common;
mod listen_support;
mod serve_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use listen_support::{closed_by_server, exchange, Listening as Limited};
use serve_support::netns::NetNs;
use serve_support::{basic, metric_value, standard_ini};

/// `/_rewho/metrics` read from the host side (the peer is `addr`'s own IP, which the tests
/// allow with `[general] metrics_allow`).
fn metrics(addr: SocketAddr) -> String {
    let s = TcpStream::connect(addr).unwrap();
    exchange(
        s,
        "GET /_rewho/metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
}

#[test]
fn four_hundred_silent_connections_under_ulimit_256_do_not_keep_a_valid_request_out() {
    let ns = NetNs::create("slowloris");
    // The test reads the metrics from the host side's own address.
    let ini = standard_ini(
        &[("alice", "wonderland")],
        &format!("metrics_allow = {}", ns.host_ip()),
    );
    // Default connection settings: no flag changes them.
    let server = Limited::start(ns.host_ip(), &ini.path, 256, &[]);
    assert_eq!(server.nofile(), 256, "the ulimit reached rewho");

    let opened = Instant::now();
    let mut silent: Vec<TcpStream> = (0..400)
        .map(|i| {
            ns.connect(server.addr)
                .unwrap_or_else(|e| panic!("silent connection {i}: {e}"))
        })
        .collect();

    let asked = Instant::now();
    let valid = ns.connect(server.addr).unwrap();
    let answer = exchange(
        valid,
        &format!(
            "GET /_rewho/auth HTTP/1.1\r\nHost: app.test\r\nAuthorization: {}\r\n\
             Connection: close\r\n\r\n",
            basic("alice", "wonderland")
        ),
        Duration::from_secs(30),
    );
    let took = asked.elapsed();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the valid request was answered: {answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("x-remote-user: alice"),
        "{answer}"
    );
    assert!(took < Duration::from_secs(30), "answered in {took:?}");

    // Every silent connection is closed by the server within 30 s of being opened (the header
    // timeout is 10 s; at the cap the oldest silent ones are closed sooner).
    for (i, s) in silent.iter_mut().enumerate() {
        let left = Duration::from_secs(32).saturating_sub(opened.elapsed());
        assert!(
            closed_by_server(s, left.max(Duration::from_millis(1))),
            "silent connection {i} still open after {:?}",
            opened.elapsed()
        );
    }
    let log = server.log();
    assert!(
        !log.contains("Too many open files"),
        "rewho ran out of descriptors:\n{log}"
    );
    let m = metrics(server.addr);
    let evicted = metric_value(&m, "rewho_connections_closed_total{reason=\"evicted\"}").unwrap();
    let timed_out = metric_value(
        &m,
        "rewho_connections_closed_total{reason=\"header_timeout\"}",
    )
    .unwrap();
    assert!(evicted + timed_out >= 400, "{m}");
}

#[test]
fn the_timeouts_follow_their_flags_for_silent_and_idle_keep_alive_connections() {
    let ns = NetNs::create("conn-timeouts");
    let ini = standard_ini(
        &[("alice", "wonderland")],
        &format!("metrics_allow = {}", ns.host_ip()),
    );
    let server = Limited::start(
        ns.host_ip(),
        &ini.path,
        1024,
        &["--header-timeout", "1", "--idle-timeout", "2"],
    );
    // Silent: closed after about a second.
    let mut silent = ns.connect(server.addr).unwrap();
    let t = Instant::now();
    assert!(closed_by_server(&mut silent, Duration::from_secs(10)));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "silent connection closed after {took:?}"
    );

    // Keep-alive: one request, then idle: open past the header timeout, closed after the
    // idle timeout.
    let mut kept = ns.connect(server.addr).unwrap();
    kept.write_all(b"GET /_rewho/auth HTTP/1.1\r\nHost: app.test\r\n\r\n")
        .unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = kept.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 "), "an answer");
    let t = Instant::now();
    assert!(closed_by_server(&mut kept, Duration::from_secs(10)));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "idle keep-alive connection closed after {took:?}"
    );
    let m = metrics(server.addr);
    assert_eq!(
        metric_value(
            &m,
            "rewho_connections_closed_total{reason=\"idle_timeout\"}"
        ),
        Some(1),
        "{m}"
    );
}

#[test]
fn a_bad_timeout_flag_is_refused_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_rewho"))
        .args(["serve", "--header-timeout", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--header-timeout"),
        "{out:?}"
    );
}
