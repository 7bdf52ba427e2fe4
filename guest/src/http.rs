//! The component's own view of an HTTP exchange, independent of wasi-http so the logic runs
//! natively in tests and in the host's native mode.

pub use asm_contract::http::MAX_BODY_BYTES;

#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    /// Header names lower-cased; repeated headers appear once per value.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Body,
}

/// A request body as read by the host glue: the bytes, or the fact that it was too large.
#[derive(Debug, Clone, Default)]
pub enum Body {
    #[default]
    Empty,
    Bytes(Vec<u8>),
    TooLarge,
}

impl Body {
    /// A body as read whole: `TooLarge` beyond the limit.
    pub fn from_bytes(bytes: Vec<u8>) -> Body {
        if bytes.len() > MAX_BODY_BYTES {
            Body::TooLarge
        } else if bytes.is_empty() {
            Body::Empty
        } else {
            Body::Bytes(bytes)
        }
    }
}

impl Request {
    pub fn new(method: &str, path_with_query: &str) -> Self {
        let (path, query) = path_with_query.split_once('?').unwrap_or((path_with_query, ""));
        Request {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            query: query.to_string(),
            ..Default::default()
        }
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.as_ref().to_vec()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Body::Bytes(body.into());
        self
    }

    /// The first value of a header as text, if it is valid UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The first value of a query parameter (no percent-decoding: our parameters are numbers).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The first value of a query parameter, percent-decoded (`+` is a space); none when absent
    /// or not UTF-8 once decoded.
    pub fn query_param_decoded(&self, name: &str) -> Option<String> {
        let bytes = self.query_param(name)?.as_bytes();
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
                (b'%', Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                }
                (b'+', _, _) => {
                    out.push(b' ');
                    i += 1;
                }
                (b, _, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).ok()
    }

    /// Every value of a header that is valid UTF-8, in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The value this response gives the named cookie, if it sets it.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next()?.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}
