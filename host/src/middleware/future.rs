//! The response future and body of [`WhoService`](super::WhoService).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{Either, Full};

/// The body of a [`WhoService`](super::WhoService) response: the inner service's body,
/// streamed as is, or a plugin's response (a challenge, a redirect).
pub type WhoBody<B> = Either<B, Full<Bytes>>;

type Boxed<B, E> =
    Pin<Box<dyn Future<Output = Result<http::Response<WhoBody<B>>, E>> + Send + 'static>>;

/// Response future of [`WhoService`](super::WhoService).
pub struct ResponseFuture<B, E> {
    pub(super) inner: Boxed<B, E>,
}

impl<B, E> std::fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<B, E> Future for ResponseFuture<B, E> {
    type Output = Result<http::Response<WhoBody<B>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}
