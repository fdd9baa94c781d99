//! Which failures are worth retrying, exactly as the collector's OTLP exporters decide.
//!
//! gRPC: `Canceled`, `DeadlineExceeded`, `Aborted`, `OutOfRange`, `Unavailable` and `DataLoss`
//! are retryable, `ResourceExhausted` only when the server attached a `google.rpc.RetryInfo`,
//! everything else is permanent; a RetryInfo delay becomes `retry_after`.
//! HTTP: 429, 502, 503 and 504 are retryable, other non-2xx statuses permanent; on 429 and 503
//! a `Retry-After` (seconds or HTTP date) becomes `retry_after`.

use std::time::{Duration, SystemTime};

use prost::Message;
use spoor_pipeline::ExportError;
use tonic::Code;
use tonic_types::StatusExt;

/// The outcome of a failed gRPC export, as the collector's `otlpexporter` classifies it.
/// `Ok` only for a status that is not an error (code `OK`).
pub fn classify_grpc_status(status: &tonic::Status) -> Result<(), ExportError> {
    let code = status.code();
    if code == Code::Ok {
        return Ok(());
    }
    let retry_info = status.get_details_retry_info();
    let message = format!("rpc error: code = {} desc = {}", grpc_code_name(code), status.message());
    let retryable = match code {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        // The server can recover from exhaustion only if it says when.
        Code::ResourceExhausted => retry_info.is_some(),
        _ => false,
    };
    if retryable {
        // A zero (or negative, which tonic-types reads as zero) delay says nothing: back off.
        let retry_after = retry_info.and_then(|info| info.retry_delay).filter(|delay| !delay.is_zero());
        Err(ExportError::Retryable { message, retry_after })
    } else {
        Err(ExportError::Permanent(message))
    }
}

/// Go's names for gRPC codes, as the collector's messages print them.
fn grpc_code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// The outcome of a non-2xx OTLP/HTTP response, as the collector's `otlphttpexporter`
/// classifies it. `body` is the response body, a `google.rpc.Status` when the server follows
/// the spec; `retry_after` is the raw `Retry-After` header.
pub fn classify_http_status(
    url: &str,
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    now: SystemTime,
) -> ExportError {
    let mut message = format!("error exporting items, request to {url} responded with HTTP Status Code {status}");
    if let Ok(rpc_status) = tonic_types::Status::decode(body)
        && !rpc_status.message.is_empty()
    {
        message.push_str(", Message=");
        message.push_str(&rpc_status.message);
    }
    match status {
        429 | 503 => {
            ExportError::Retryable { message, retry_after: retry_after.and_then(|value| parse_retry_after(value, now)) }
        }
        502 | 504 => ExportError::Retryable { message, retry_after: None },
        _ => ExportError::Permanent(message),
    }
}

/// `Retry-After`: delay-seconds, or an HTTP date (the delay until then, zero if past).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use tonic_types::ErrorDetails;

    use super::*;

    fn status_with_retry_info(code: Code, delay: Option<Duration>) -> tonic::Status {
        tonic::Status::with_error_details(code, "busy", ErrorDetails::with_retry_info(delay))
    }

    fn is_retryable(result: Result<(), ExportError>) -> bool {
        matches!(result, Err(ExportError::Retryable { .. }))
    }

    #[test]
    fn grpc_codes_follow_the_collector() {
        let retryable = [
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unavailable,
            Code::DataLoss,
        ];
        let permanent = [
            Code::Unknown,
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::ResourceExhausted,
            Code::FailedPrecondition,
            Code::Unimplemented,
            Code::Internal,
            Code::Unauthenticated,
        ];
        for code in retryable {
            assert!(is_retryable(classify_grpc_status(&tonic::Status::new(code, "x"))), "{code:?}");
        }
        for code in permanent {
            let result = classify_grpc_status(&tonic::Status::new(code, "x"));
            assert!(matches!(result, Err(ExportError::Permanent(_))), "{code:?}");
        }
        assert_eq!(classify_grpc_status(&tonic::Status::new(Code::Ok, "")), Ok(()));
    }

    #[test]
    fn resource_exhausted_retries_only_with_retry_info() {
        let status = status_with_retry_info(Code::ResourceExhausted, Some(Duration::from_millis(1500)));
        assert_eq!(
            classify_grpc_status(&status),
            Err(ExportError::Retryable {
                message: "rpc error: code = ResourceExhausted desc = busy".to_owned(),
                retry_after: Some(Duration::from_millis(1500)),
            })
        );
        let without_delay = status_with_retry_info(Code::ResourceExhausted, None);
        assert_eq!(
            classify_grpc_status(&without_delay),
            Err(ExportError::Retryable {
                message: "rpc error: code = ResourceExhausted desc = busy".to_owned(),
                retry_after: None,
            })
        );
    }

    #[test]
    fn unavailable_honours_retry_info_delay() {
        let status = status_with_retry_info(Code::Unavailable, Some(Duration::from_secs(7)));
        match classify_grpc_status(&status) {
            Err(ExportError::Retryable { retry_after, .. }) => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn zero_or_negative_retry_delay_leaves_the_delay_to_backoff() {
        let zero = status_with_retry_info(Code::ResourceExhausted, Some(Duration::ZERO));
        let negative_info =
            tonic_types::pb::RetryInfo { retry_delay: Some(prost_types::Duration { seconds: -2, nanos: 0 }) };
        let negative_details = tonic_types::Status {
            code: Code::ResourceExhausted as i32,
            message: "busy".to_owned(),
            details: vec![prost_types::Any {
                type_url: tonic_types::RetryInfo::TYPE_URL.to_owned(),
                value: negative_info.encode_to_vec(),
            }],
        };
        let negative =
            tonic::Status::with_details(Code::ResourceExhausted, "busy", negative_details.encode_to_vec().into());
        for status in [zero, negative] {
            match classify_grpc_status(&status) {
                Err(ExportError::Retryable { retry_after, .. }) => assert_eq!(retry_after, None),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn garbage_details_are_ignored() {
        let status =
            tonic::Status::with_details(Code::ResourceExhausted, "x", bytes::Bytes::from_static(b"\xff\xff\xff"));
        assert!(matches!(classify_grpc_status(&status), Err(ExportError::Permanent(_))));
    }

    #[test]
    fn http_statuses_follow_the_collector() {
        let now = SystemTime::now();
        for status in [429, 502, 503, 504] {
            assert!(
                matches!(classify_http_status("u", status, None, b"", now), ExportError::Retryable { .. }),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 405, 413, 500, 501, 505] {
            assert!(matches!(classify_http_status("u", status, None, b"", now), ExportError::Permanent(_)), "{status}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        // 2015-10-21 07:28:00 GMT is 1445412480.
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);

        match classify_http_status("u", 429, Some("3"), b"", now) {
            ExportError::Retryable { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(3)));
            }
            other => panic!("{other:?}"),
        }
        // The collector reads Retry-After only on throttling responses.
        match classify_http_status("u", 502, Some("3"), b"", now) {
            ExportError::Retryable { retry_after, .. } => assert_eq!(retry_after, None),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn http_error_message_includes_the_status_body() {
        let body = tonic_types::Status { code: 3, message: "bad spans".to_owned(), details: vec![] }.encode_to_vec();
        let err = classify_http_status("http://x/v1/traces", 400, None, &body, SystemTime::now());
        assert_eq!(
            err,
            ExportError::Permanent(
                "error exporting items, request to http://x/v1/traces responded with HTTP Status Code 400, Message=bad spans"
                    .to_owned()
            )
        );
    }
}
