//! The names Jaeger and the collector's Jaeger translator give OTLP span kinds and status codes,
//! and the attribute keys that carry a meaning beyond the attribute. The translators, the store
//! and the query service import them from here, so a name is spelled once.

use super::span::SpanKind;
use super::status::StatusCode;

/// The resource attribute that names the service.
pub const SERVICE_NAME: &str = "service.name";
/// The resource attribute of the host name, and Jaeger's older process tag for it.
pub const HOST_NAME: &str = "host.name";
pub const HOSTNAME: &str = "hostname";
/// The Jaeger client version process tag, and the key the collector moves it to.
pub const JAEGER_VERSION: &str = "jaeger.version";
pub const OPENCENSUS_EXPORTER_VERSION: &str = "opencensus.exporterversion";

/// The tag that carries the span kind in Jaeger and Zipkin ([`span_kind_name`]).
pub const SPAN_KIND: &str = "span.kind";
/// Jaeger's error flag: a bool tag, `true` for a span with an error status.
pub const ERROR: &str = "error";
/// The tag that carries the status code ([`status_code_name`]) and its description.
pub const OTEL_STATUS_CODE: &str = "otel.status_code";
pub const OTEL_STATUS_DESCRIPTION: &str = "otel.status_description";
/// HTTP tags the status is derived from when no status tag is there.
pub const HTTP_STATUS_CODE: &str = "http.status_code";
pub const HTTP_STATUS_MESSAGE: &str = "http.status_message";
/// The tag that carries the span's W3C trace state.
pub const W3C_TRACESTATE: &str = "w3c.tracestate";
/// The tags that carry the instrumentation scope, and the names older SDKs used.
pub const OTEL_SCOPE_NAME: &str = "otel.scope.name";
pub const OTEL_SCOPE_VERSION: &str = "otel.scope.version";
pub const OTEL_LIBRARY_NAME: &str = "otel.library.name";
pub const OTEL_LIBRARY_VERSION: &str = "otel.library.version";
/// The link attribute that keeps an OpenTracing reference's type, and its two values.
pub const OPENTRACING_REF_TYPE: &str = "opentracing.ref_type";
pub const REF_TYPE_CHILD_OF: &str = "child_of";
pub const REF_TYPE_FOLLOWS_FROM: &str = "follows_from";
/// The log field that carries an event's name.
pub const EVENT: &str = "event";
/// The span attributes where Jaeger keeps its warnings (newer and older name).
pub const JAEGER_WARNINGS: [&str; 2] = ["jaeger.internal.warnings", "@jaeger@warnings"];

/// The service name of a resource without attributes (contrib's `ResourceNoServiceName`).
pub const RESOURCE_NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";

/// OTLP span kinds and their OpenTracing names; unspecified has none.
const SPAN_KINDS: [(SpanKind, &str); 5] = [
    (SpanKind::Internal, "internal"),
    (SpanKind::Server, "server"),
    (SpanKind::Client, "client"),
    (SpanKind::Producer, "producer"),
    (SpanKind::Consumer, "consumer"),
];

/// Status codes and their `otel.status_code` values; unset has none.
const STATUS_CODES: [(StatusCode, &str); 2] = [(StatusCode::Ok, "OK"), (StatusCode::Error, "ERROR")];

/// The OpenTracing name of an OTLP span kind; `None` for unspecified or an unknown value.
pub fn span_kind_name(kind: i32) -> Option<&'static str> {
    SPAN_KINDS.iter().find(|(k, _)| *k as i32 == kind).map(|(_, name)| *name)
}

/// The span kind an OpenTracing name stands for, matched exactly as the collector's Jaeger
/// translator matches it (`internal`, not `Internal`).
pub fn span_kind_from_name(name: &str) -> Option<SpanKind> {
    SPAN_KINDS.iter().find(|(_, n)| *n == name).map(|(kind, _)| *kind)
}

/// The `otel.status_code` value of a status code; `None` for unset or an unknown value.
pub fn status_code_name(code: i32) -> Option<&'static str> {
    STATUS_CODES.iter().find(|(c, _)| *c as i32 == code).map(|(_, name)| *name)
}

/// The status code an `otel.status_code` value stands for, in any case, as both the Jaeger
/// translator and Jaeger's search read it.
pub fn status_code_from_name(name: &str) -> Option<StatusCode> {
    STATUS_CODES.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)).map(|(code, _)| *code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_kind_names_go_both_ways() {
        for kind in [SpanKind::Internal, SpanKind::Server, SpanKind::Client, SpanKind::Producer, SpanKind::Consumer] {
            let name = span_kind_name(kind as i32).unwrap();
            assert_eq!(span_kind_from_name(name), Some(kind));
        }
        assert_eq!(span_kind_name(SpanKind::Server as i32), Some("server"));
        assert_eq!(span_kind_name(SpanKind::Unspecified as i32), None);
        assert_eq!(span_kind_name(42), None);
        assert_eq!(span_kind_from_name("Server"), None);
        assert_eq!(span_kind_from_name("unspecified"), None);
    }

    #[test]
    fn status_code_names_go_both_ways() {
        assert_eq!(status_code_name(StatusCode::Ok as i32), Some("OK"));
        assert_eq!(status_code_name(StatusCode::Error as i32), Some("ERROR"));
        assert_eq!(status_code_name(StatusCode::Unset as i32), None);
        assert_eq!(status_code_name(7), None);
        assert_eq!(status_code_from_name("ok"), Some(StatusCode::Ok));
        assert_eq!(status_code_from_name("Error"), Some(StatusCode::Error));
        assert_eq!(status_code_from_name("UNSET"), None);
        assert_eq!(status_code_from_name(""), None);
    }
}
