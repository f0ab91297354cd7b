//! Trust at the edges of `rewho serve`, attacked from a client that is not on loopback: each
//! test makes its own network namespace ([`serve_support::netns::NetNs`]) and sends the
//! forgeries of issue 19 from inside it, straight to rewho or through the shipped proxy
//! examples.
#![cfg(feature = "server")]

mod common;
mod serve_support;

use std::io::{Read, Write};

use serve_support::netns::NetNs;

#[test]
fn a_namespace_client_reaches_the_host_side_from_its_own_address() {
    let ns = NetNs::create("netns-smoke");
    let listener = std::net::TcpListener::bind((ns.host_ip(), 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, peer) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).unwrap();
            let body = peer.ip().to_string();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    // A socket opened in the namespace, then curl run inside it: both come from its address.
    let mut s = ns.connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.ends_with(&ns.ns_ip().to_string()), "{answer}");
    let out = ns.exec(&["curl", "-sS", &format!("http://{addr}/")]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        ns.ns_ip().to_string(),
        "{out:?}"
    );
    server.join().unwrap();
    let name = ns.name().to_owned();
    drop(ns);
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&list.stdout)
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name.as_str())),
        "the namespace is removed on drop"
    );
}
