//! The HTTP floor for `bench/compare.sh`: a hyper server with the same runtimes, TCP
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
    // As `rewho serve`: one runtime thread accepts, and each connection is served start to
    // end on one of a thread per core, each a single-threaded runtime (in turn).
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut queues = Vec::new();
    for _ in 0..threads {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<std::net::TcpStream>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::spawn(move || {
            rt.block_on(async move {
                let builder = Builder::new(TokioExecutor::new());
                while let Some(stream) = rx.recv().await {
                    let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                        continue;
                    };
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
        });
        queues.push(tx);
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?
        .block_on(async {
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            println!("listening on {}", listener.local_addr()?);
            for next in (0..threads).cycle() {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                let _ = queues[next].send(stream.into_std()?);
            }
            Ok(())
        })
}
