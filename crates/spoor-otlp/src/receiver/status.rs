//! The OTLP/HTTP error body: a `google.rpc.Status` (with `google.rpc.RetryInfo`) in protobuf
//! and in protobuf JSON. The types come from tonic-types; what it lacks is a way to build a
//! bare `Status` with a RetryInfo (it only builds `tonic::Status`) and the JSON form.

use std::time::Duration;

use prost::Message;
use prost_types::Any;
use serde_json::json;
use tonic::Code;
use tonic_types::{RetryInfo, pb};

pub(crate) use tonic_types::Status as RpcStatus;

/// Building and encoding an OTLP/HTTP error body.
pub(crate) trait ErrorBody {
    fn new(code: Code, message: impl Into<String>) -> Self;

    /// Adds a `RetryInfo` detail, which OTLP clients honour as the delay before retrying.
    fn with_retry_delay(self, delay: Duration) -> Self;

    /// Protobuf JSON, with the well-known `Any` and `Duration` mappings.
    fn to_json(&self) -> Vec<u8>;
}

impl ErrorBody for RpcStatus {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code: code as i32, message: message.into(), details: Vec::new() }
    }

    fn with_retry_delay(mut self, delay: Duration) -> Self {
        let info = pb::RetryInfo::from(RetryInfo::new(Some(delay)));
        self.details.push(Any { type_url: RetryInfo::TYPE_URL.to_owned(), value: info.encode_to_vec() });
        self
    }

    fn to_json(&self) -> Vec<u8> {
        let details: Vec<_> = self.details.iter().filter_map(retry_info_json).collect();
        let mut value = json!({"code": self.code, "message": self.message});
        if !details.is_empty() {
            value["details"] = serde_json::Value::Array(details);
        }
        value.to_string().into_bytes()
    }
}

fn retry_info_json(any: &Any) -> Option<serde_json::Value> {
    if any.type_url != RetryInfo::TYPE_URL {
        return None;
    }
    let info = pb::RetryInfo::decode(any.value.as_slice()).ok()?;
    let delay = info.retry_delay.unwrap_or_default();
    Some(json!({"@type": any.type_url, "retryDelay": json_duration(&delay)}))
}

/// `Duration` in protobuf JSON: seconds with as many fractional digits as needed.
fn json_duration(duration: &prost_types::Duration) -> String {
    if duration.nanos == 0 {
        format!("{}s", duration.seconds)
    } else {
        let text = format!("{}.{:09}", duration.seconds, duration.nanos);
        format!("{}s", text.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spelled out rather than taken from tonic-types: it is the wire contract.
    const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

    #[test]
    fn json_has_retry_info() {
        let status = RpcStatus::new(Code::Unavailable, "full").with_retry_delay(Duration::from_millis(1500));
        let value: serde_json::Value = serde_json::from_slice(&status.to_json()).unwrap();
        assert_eq!(
            value,
            json!({"code": 14, "message": "full", "details": [
                {"@type": RETRY_INFO_TYPE_URL, "retryDelay": "1.5s"}
            ]})
        );
        let plain: serde_json::Value =
            serde_json::from_slice(&RpcStatus::new(Code::InvalidArgument, "bad").to_json()).unwrap();
        assert_eq!(plain, json!({"code": 3, "message": "bad"}));
    }

    #[test]
    fn protobuf_round_trips() {
        let status = RpcStatus::new(Code::Unavailable, "full").with_retry_delay(Duration::from_secs(2));
        let decoded = RpcStatus::decode(status.encode_to_vec().as_slice()).unwrap();
        let info = pb::RetryInfo::decode(decoded.details[0].value.as_slice()).unwrap();
        assert_eq!(info.retry_delay.unwrap().seconds, 2);
    }
}
