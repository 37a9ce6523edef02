//! CORS only where it means something: requests that carry `Origin`. Browsers send `Origin` on
//! every cross-origin request (and every preflight), so they see exactly tower-http's answers;
//! SDKs, curl and CI suites never send it, and skip building and merging the CORS headers,
//! which cost ~10 % of a GET by id (docs/BENCHMARK.md).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{Request, header::ORIGIN};
use axum::response::Response;
use tower_http::cors::{Cors, CorsLayer};
use tower_layer::Layer;
use tower_service::Service;

/// Wraps a service so that only requests with `Origin` go through `CorsLayer`.
#[derive(Clone)]
pub(super) struct CorsForBrowsers(pub CorsLayer);

impl<S: Clone> Layer<S> for CorsForBrowsers {
    type Service = CorsWhenOrigin<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CorsWhenOrigin {
            cors: self.0.layer(inner.clone()),
            plain: inner,
        }
    }
}

#[derive(Clone)]
pub(super) struct CorsWhenOrigin<S> {
    plain: S,
    cors: Cors<S>,
}

type BoxedResponse = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request<Body>> for CorsWhenOrigin<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxedResponse;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Both wrap clones of one router service, which is always ready; ask both anyway.
        match self.plain.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.cors.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if request.headers().contains_key(ORIGIN) {
            Box::pin(self.cors.call(request))
        } else {
            Box::pin(self.plain.call(request))
        }
    }
}
