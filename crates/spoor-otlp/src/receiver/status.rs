//! `google.rpc.Status` (with `google.rpc.RetryInfo`), the error body of OTLP/HTTP and the
//! `grpc-status-details-bin` of OTLP/gRPC, in protobuf and in protobuf JSON.

use std::time::Duration;

use prost::Message;
use serde_json::json;

pub(crate) const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// gRPC status codes used here.
pub(crate) mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl RpcStatus {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: Vec::new() }
    }

    /// Adds a `RetryInfo` detail, which OTLP clients honour as the delay before retrying.
    pub fn with_retry_delay(mut self, delay: Duration) -> Self {
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
            }),
        };
        self.details.push(ProtoAny { type_url: RETRY_INFO_TYPE_URL.to_owned(), value: info.encode_to_vec() });
        self
    }

    /// Protobuf JSON, with the well-known `Any` and `Duration` mappings.
    pub fn to_json(&self) -> Vec<u8> {
        let details: Vec<_> = self
            .details
            .iter()
            .filter_map(|any| {
                let info = RetryInfo::decode(any.value.as_slice()).ok()?;
                let delay = info.retry_delay.unwrap_or_default();
                Some(json!({
                    "@type": any.type_url,
                    "retryDelay": json_duration(&delay),
                }))
            })
            .collect();
        let mut value = json!({"code": self.code, "message": self.message});
        if !details.is_empty() {
            value["details"] = serde_json::Value::Array(details);
        }
        value.to_string().into_bytes()
    }
}

fn json_duration(duration: &ProtoDuration) -> String {
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

    #[test]
    fn json_has_retry_info() {
        let status = RpcStatus::new(code::UNAVAILABLE, "full").with_retry_delay(Duration::from_millis(1500));
        let value: serde_json::Value = serde_json::from_slice(&status.to_json()).unwrap();
        assert_eq!(
            value,
            json!({"code": 14, "message": "full", "details": [
                {"@type": RETRY_INFO_TYPE_URL, "retryDelay": "1.5s"}
            ]})
        );
        let plain: serde_json::Value = serde_json::from_slice(&RpcStatus::new(3, "bad").to_json()).unwrap();
        assert_eq!(plain, json!({"code": 3, "message": "bad"}));
    }

    #[test]
    fn protobuf_round_trips() {
        let status = RpcStatus::new(code::UNAVAILABLE, "full").with_retry_delay(Duration::from_secs(2));
        let decoded = RpcStatus::decode(status.encode_to_vec().as_slice()).unwrap();
        let info = RetryInfo::decode(decoded.details[0].value.as_slice()).unwrap();
        assert_eq!(info.retry_delay.unwrap().seconds, 2);
    }
}
