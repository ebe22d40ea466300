//! A venue's REST API as a client sees it: one GET, its answer as received. Live, over HTTP
//! ([`HttpRest`]); on replay, the answers a capture recorded ([`super::replay`]).

use std::fmt::Debug;
use std::time::Duration;

use tickflow_service::now_us;

use super::Trust;

/// One answer: its status and `Retry-After` (seconds), and its body as received; no status
/// when no answer came (`error` says why). `received_us` is when it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestAnswer {
    pub status: Option<u16>,
    pub retry_after_s: Option<u64>,
    pub body: String,
    pub error: Option<String>,
    pub received_us: i64,
}

pub trait Rest: Debug + Send {
    /// `GET <base>{path}?{query}` with `headers`.
    fn get(&mut self, path: &str, query: &[(&str, String)], headers: &[(&str, &str)]) -> RestAnswer;
    /// Waits before a retry (a replay does not).
    fn pause(&mut self, wait: Duration);
}

/// A REST API over HTTP(S) at `base_url`, with the roots `trust` names.
#[derive(Debug)]
pub struct HttpRest {
    base_url: String,
    http: ureq::Agent,
}

impl HttpRest {
    pub fn new(base_url: &str, trust: &Trust, timeout: Duration) -> Self {
        HttpRest { base_url: base_url.trim_end_matches('/').to_owned(), http: trust.http_agent(timeout) }
    }
}

impl Rest for HttpRest {
    fn get(&mut self, path: &str, query: &[(&str, String)], headers: &[(&str, &str)]) -> RestAnswer {
        super::blocking(|| self.call(path, query, headers))
    }

    fn pause(&mut self, wait: Duration) {
        super::blocking(|| std::thread::sleep(wait));
    }
}

impl HttpRest {
    fn call(&self, path: &str, query: &[(&str, String)], headers: &[(&str, &str)]) -> RestAnswer {
        let mut request = self.http.get(format!("{}{path}", self.base_url));
        for (name, value) in query {
            request = request.query(*name, value);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let answer = |status, retry_after_s, body, error| RestAnswer {
            status,
            retry_after_s,
            body,
            error,
            received_us: now_us(),
        };
        match request.config().http_status_as_error(false).build().call() {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let retry_after =
                    response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.trim().parse().ok());
                match response.body_mut().read_to_string() {
                    Ok(body) => answer(Some(status), retry_after, body, None),
                    Err(error) => answer(Some(status), retry_after, String::new(), Some(error.to_string())),
                }
            }
            Err(error) => answer(None, None, String::new(), Some(error.to_string())),
        }
    }
}

/// `path?name=value&...`, as a capture records a request.
pub fn request_line(path: &str, query: &[(&str, String)]) -> String {
    let query: Vec<String> = query.iter().map(|(name, value)| format!("{name}={value}")).collect();
    format!("{path}?{}", query.join("&"))
}
