//! Turning an answer into an HTTP response: content type, caching, and gzip when the
//! client takes it (Function URLs pass the body through as it is, compressed or not).

use flate2::write::GzEncoder;
use flate2::Compression;
use lambda_http::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_TYPE, VARY, WWW_AUTHENTICATE,
};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use std::io::Write;

/// Bodies smaller than this are sent as they are: gzip would barely shrink them.
const GZIP_FROM_BYTES: usize = 1024;

pub struct Answer {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub cache_control: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(lambda_http::http::HeaderName, String)>,
}

impl Answer {
    pub fn json(status: StatusCode, value: &impl Serialize, cache_control: &'static str) -> Answer {
        // Serializing plain data (strings, numbers, times) cannot fail.
        let body = serde_json::to_vec(value).unwrap_or_default();
        Answer {
            status,
            content_type: "application/json",
            cache_control,
            body,
            headers: Vec::new(),
        }
    }

    pub fn error(status: StatusCode, message: &str) -> Answer {
        let mut answer = Answer::json(status, &serde_json::json!({ "error": message }), "no-store");
        if status == StatusCode::UNAUTHORIZED {
            answer
                .headers
                .push((WWW_AUTHENTICATE, "Bearer realm=\"coinlake\"".to_owned()));
        }
        answer
    }

    /// An answer with no body (`204 No Content`).
    pub fn empty(status: StatusCode) -> Answer {
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            cache_control: "no-store",
            body: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn csv(body: Vec<u8>, filename: &str, cache_control: &'static str) -> Answer {
        Answer {
            status: StatusCode::OK,
            content_type: "text/csv; charset=utf-8",
            cache_control,
            body,
            headers: vec![(
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            )],
        }
    }

    pub fn html(page: &str) -> Answer {
        Answer {
            status: StatusCode::OK,
            content_type: "text/html; charset=utf-8",
            cache_control: "public, max-age=300",
            body: page.as_bytes().to_vec(),
            headers: Vec::new(),
        }
    }

    /// The response, gzipped when `gzip` and worth it; without a body for `HEAD`.
    pub fn into_response(self, gzip: bool, head: bool) -> Response<Body> {
        let compress = gzip && self.body.len() >= GZIP_FROM_BYTES;
        let body = if compress {
            gzipped(&self.body)
        } else {
            self.body
        };
        let mut builder = Response::builder()
            .status(self.status)
            .header(CONTENT_TYPE, self.content_type)
            .header(CACHE_CONTROL, self.cache_control)
            .header(VARY, "accept-encoding, authorization");
        if compress {
            builder = builder.header(CONTENT_ENCODING, "gzip");
        }
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                builder = builder.header(name, value);
            }
        }
        let body = match (head, compress) {
            (true, _) => Body::Empty,
            (false, true) => Body::Binary(body),
            (false, false) => match String::from_utf8(body) {
                Ok(text) => Body::Text(text),
                Err(bytes) => Body::Binary(bytes.into_bytes()),
            },
        };
        // Every header above is a valid static name with a checked value.
        builder
            .body(body)
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

fn gzipped(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// Whether the client listed gzip in `Accept-Encoding` (without `q=0`).
pub fn accepts_gzip(header: Option<&str>) -> bool {
    header.is_some_and(|value| {
        value.split(',').any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| p.replace(' ', "") == "q=0");
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_used_only_when_the_client_takes_it() {
        assert!(accepts_gzip(Some("gzip, deflate, br")));
        assert!(accepts_gzip(Some("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("br")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn large_bodies_are_compressed_and_small_ones_are_not() {
        let big = Answer::html(&"x".repeat(10_000)).into_response(true, false);
        assert_eq!(big.headers()[CONTENT_ENCODING], "gzip");
        assert!(matches!(big.body(), Body::Binary(b) if b.len() < 1000));
        let small = Answer::html("<p>hi</p>").into_response(true, false);
        assert!(small.headers().get(CONTENT_ENCODING).is_none());
        let head = Answer::html("<p>hi</p>").into_response(false, true);
        assert!(matches!(head.body(), Body::Empty));
    }
}
