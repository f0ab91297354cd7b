//! The HTTP floor for `bench/compare.sh`: a hyper server on the same tokio runtime, TCP
//! settings and connection handling as `rewho serve`, that answers every request with 200 and
//! `X-Remote-User: alice` without looking at it. Whatever it cannot beat under the same load
//! tool is the machine's and the kernel's cost, not rewho's: its requests per second bound
//! what any forward-auth server could reach here.
//!
//! usage: http_floor ADDR (e.g. 127.0.0.1:8080); prints `listening` once bound.

use std::convert::Infallible;

use http::{Request, Response};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;

async fn answer(_req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, Infallible> {
    let mut r = Response::new(Empty::new());
    r.headers_mut()
        .insert("x-remote-user", http::HeaderValue::from_static("alice"));
    Ok(r)
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    tokio::runtime::Runtime::new()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on {}", listener.local_addr()?);
        let builder = Builder::new(TokioExecutor::new());
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let conn = builder
                .serve_connection_with_upgrades(
                    TokioIo::new(stream),
                    hyper::service::service_fn(answer),
                )
                .into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    })
}
