//! `/metrics` over HTTP, on a thread of its own: each scrape asks for a fresh text.

use std::sync::Arc;
use std::thread::JoinHandle;

use crate::Format;

/// A running endpoint; it stops when dropped.
pub struct Server {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    address: std::net::SocketAddr,
}

impl Server {
    /// The address it listens on (with the port the system chose, for port 0).
    pub fn address(&self) -> std::net::SocketAddr {
        self.address
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a scrape answers: the metrics in the format asked for, or why there are none (served as
/// a 500).
pub type Scrape = dyn Fn(Format) -> Result<String, String> + Send + Sync;

/// The format a scraper asks for: OpenMetrics when its Accept header names it (Prometheus
/// does), else the classic text format.
fn negotiate(request: &tiny_http::Request) -> Format {
    let open_metrics = request.headers().iter().any(|h| {
        h.field.equiv("Accept") && h.value.as_str().contains("application/openmetrics-text")
    });
    if open_metrics {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

/// Listens on `address` (an address in use is an error, at once) and answers `GET /metrics`
/// with what `scrape` returns; anything else is 404.
pub fn serve(address: std::net::SocketAddr, scrape: Arc<Scrape>) -> std::io::Result<Server> {
    let server =
        tiny_http::Server::http(address).map_err(|e| match e.downcast::<std::io::Error>() {
            Ok(e) => *e,
            Err(e) => std::io::Error::other(e),
        })?;
    let address = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| std::io::Error::other("not an IP listener"))?;
    let server = Arc::new(server);
    let listener = server.clone();
    let thread = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for request in listener.incoming_requests() {
                let response =
                    if request.url() == "/metrics" || request.url().starts_with("/metrics?") {
                        let format = negotiate(&request);
                        let header = tiny_http::Header::from_bytes(
                            &b"Content-Type"[..],
                            format.content_type().as_bytes(),
                        )
                        .expect("a valid header");
                        match scrape(format) {
                            Ok(text) => tiny_http::Response::from_string(text).with_header(header),
                            Err(message) => {
                                tiny_http::Response::from_string(format!("memdefrag: {message}\n"))
                                    .with_status_code(500)
                            }
                        }
                    } else {
                        tiny_http::Response::from_string("memdefrag: see /metrics\n")
                            .with_status_code(404)
                    };
                let _ = request.respond(response);
            }
        })?;
    Ok(Server {
        server,
        thread: Some(thread),
        address,
    })
}
