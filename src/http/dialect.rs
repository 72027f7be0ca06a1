//! Error bodies, in the dialect of each InfluxDB API: clients read their own
//! (Telegraf's v2 output and the v2 client libraries read `code` and
//! `message`, v1 clients read `error`), so each endpoint answers in its own.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::query::RejectedLine;

/// Rejected lines named in one error at most; the rest are counted.
const LISTED_LINES: usize = 100;

/// The API an endpoint belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// InfluxDB 1.x: `{"error": "..."}`.
    V1,
    /// InfluxDB 2.x: `{"code": "...", "message": "..."}`.
    V2,
    /// InfluxDB 3: `{"error": "...", "data": ...}`.
    V3,
}

impl Dialect {
    /// An error answer with `status`.
    pub(super) fn error(self, status: StatusCode, message: &str) -> Response {
        let body = match self {
            Dialect::V1 | Dialect::V3 => json!({ "error": message }),
            Dialect::V2 => json!({ "code": v2_code(status), "message": message }),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"InfluxDB\""),
            );
        }
        response
    }

    /// `413`, with the limit (v2 clients split the batch and resend).
    pub(super) fn too_large(self, limit: usize) -> Response {
        let message = format!("request body is larger than {limit} bytes (after decompression)");
        match self {
            Dialect::V2 => (
                StatusCode::PAYLOAD_TOO_LARGE,
                axum::Json(json!({
                    "code": "request too large",
                    "message": message,
                    "maxLength": limit,
                })),
            )
                .into_response(),
            _ => self.error(StatusCode::PAYLOAD_TOO_LARGE, &message),
        }
    }

    /// `400` naming the refused lines; `written` says whether the valid
    /// lines were written (a partial write) or nothing was.
    pub(super) fn rejected(
        self,
        rejected: &[RejectedLine],
        dropped: usize,
        written: bool,
    ) -> Response {
        let status = StatusCode::BAD_REQUEST;
        let first_line = rejected.first().map_or(0, |r| r.line);
        let summary = summary(rejected, dropped, written);
        let body = match self {
            Dialect::V1 => json!({ "error": summary }),
            Dialect::V2 => json!({ "code": "invalid", "message": summary, "line": first_line }),
            Dialect::V3 => {
                let data: Vec<Value> = (rejected.iter().take(LISTED_LINES))
                    .map(|r| {
                        json!({
                            "original_line": r.text,
                            "line_number": r.line,
                            "error_message": r.reason,
                        })
                    })
                    .collect();
                let error = if written {
                    "partial write of line protocol occurred"
                } else {
                    "parsing failed for write_lp endpoint"
                };
                json!({ "error": error, "data": data })
            }
        };
        (status, axum::Json(body)).into_response()
    }
}

/// One message for every refused line, InfluxDB 1.x style: `partial write:
/// <each line's reason> dropped=<n>`.
fn summary(rejected: &[RejectedLine], dropped: usize, written: bool) -> String {
    let mut reasons: Vec<String> = (rejected.iter().take(LISTED_LINES))
        .map(|r| {
            if r.reason.starts_with("field type conflict") || r.reason.starts_with("points beyond")
            {
                format!("line {}: {}", r.line, r.reason)
            } else {
                format!(
                    "line {}: unable to parse '{}': {}",
                    r.line, r.text, r.reason
                )
            }
        })
        .collect();
    let listed = reasons.len();
    if dropped > listed {
        reasons.push(format!("and {} more", dropped - listed));
    }
    let head = if written {
        "partial write"
    } else {
        "write refused, nothing written"
    };
    format!("{head}: {} dropped={dropped}", reasons.join("; "))
}

/// The `code` of a v2 error body.
fn v2_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "invalid",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not found",
        StatusCode::PAYLOAD_TOO_LARGE => "request too large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported media type",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ => "internal error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_names_each_line_and_counts_them() {
        let rejected = [
            RejectedLine {
                line: 2,
                text: "m f=".into(),
                reason: "missing field value".into(),
            },
            RejectedLine {
                line: 5,
                text: "m f=1i".into(),
                reason: "field type conflict: input field \"f\" on measurement \"m\" is type integer, already exists as type float".into(),
            },
        ];
        assert_eq!(
            summary(&rejected, 2, true),
            "partial write: line 2: unable to parse 'm f=': missing field value; \
             line 5: field type conflict: input field \"f\" on measurement \"m\" is type \
             integer, already exists as type float dropped=2"
        );
    }
}
