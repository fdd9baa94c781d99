//! Jaeger's `NormalizeIPAttributes`: old clients (Jaeger's Java client's `ip` process tag, Zipkin
//! v1's `peer.ipv4`) send an IPv4 address packed into a number; Jaeger shows it dotted.
//!
//! Only the `ip` and `peer.ipv4` attributes of resources and spans change, and only when they
//! hold an integer or a double; event and link attributes stay as they are.

use std::net::Ipv4Addr;

use spoor_pipeline::otlp::{AnyValue, KeyValue, ResourceSpans, any_value::Value};

use super::spans_mut;

const IP_ATTRIBUTES: [&str; 2] = ["ip", "peer.ipv4"];

/// Replaces numeric `ip`/`peer.ipv4` resource and span attributes with dotted IPv4 strings.
pub fn normalize_ip_attributes(resource_spans: &mut [ResourceSpans]) {
    for rs in resource_spans.iter_mut() {
        if let Some(resource) = rs.resource.as_mut() {
            normalize(&mut resource.attributes);
        }
    }
    for span in spans_mut(resource_spans) {
        normalize(&mut span.attributes);
    }
}

fn normalize(attributes: &mut [KeyValue]) {
    for kv in attributes.iter_mut().filter(|kv| IP_ATTRIBUTES.contains(&kv.key.as_str())) {
        if let Some(value) = kv.value.as_mut()
            && let Some(packed) = packed_ipv4(value)
        {
            value.value = Some(Value::StringValue(Ipv4Addr::from(packed).to_string()));
        }
    }
}

/// The number as Go's `uint32(...)` converts it: integers keep their low 32 bits; doubles
/// truncate toward zero through int64, as Go does on amd64 (out-of-range values have no
/// portable result in Go).
fn packed_ipv4(value: &AnyValue) -> Option<u32> {
    match value.value.as_ref()? {
        Value::IntValue(i) => Some(*i as u32),
        Value::DoubleValue(d) => Some(*d as i64 as u32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use spoor_pipeline::otlp::{Resource, ScopeSpans, Span};

    use super::*;

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
    }

    fn ip_attributes(i: i64, d: f64) -> Vec<KeyValue> {
        vec![
            kv("a", Value::IntValue(i)),
            kv("ip", Value::IntValue(i)),
            kv("peer.ipv4", Value::DoubleValue(d)),
            kv("z", Value::DoubleValue(d)),
        ]
    }

    fn dotted(attributes: Vec<KeyValue>, ip: &str, peer: &str) -> Vec<KeyValue> {
        let mut attributes = attributes;
        attributes[1] = kv("ip", Value::StringValue(ip.into()));
        attributes[2] = kv("peer.ipv4", Value::StringValue(peer.into()));
        attributes
    }

    #[test]
    fn numeric_ips_of_resources_and_spans_become_dotted_in_place() {
        // Jaeger's own values: 1<<24|2<<16|3<<8|4 is 1.2.3.4; 0x08080808 is 8.8.8.8.
        let original = ip_attributes(0x0102_0304, f64::from(0x0808_0808_u32));
        let span = Span { attributes: original.clone(), ..Default::default() };
        let mut trace = vec![ResourceSpans {
            resource: Some(Resource { attributes: original.clone(), ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
            ..Default::default()
        }];
        normalize_ip_attributes(&mut trace);
        let expected = dotted(original, "1.2.3.4", "8.8.8.8");
        assert_eq!(trace[0].resource.as_ref().map(|r| r.attributes.clone()), Some(expected.clone()));
        assert_eq!(trace[0].scope_spans[0].spans[0].attributes, expected);
    }

    #[test]
    fn numbers_convert_as_go_converts_them_to_uint32() {
        // A signed int32 from Zipkin v1 Thrift and a value above 32 bits keep their low 32 bits.
        let mut attributes = ip_attributes(-1_062_731_775, 167_772_167.9);
        normalize(&mut attributes);
        assert_eq!(attributes, dotted(ip_attributes(-1_062_731_775, 167_772_167.9), "192.168.0.1", "10.0.0.7"));
        let mut wide = vec![kv("ip", Value::IntValue(0x1_0A00_0001))];
        normalize(&mut wide);
        assert_eq!(wide, vec![kv("ip", Value::StringValue("10.0.0.1".into()))]);
    }

    #[test]
    fn strings_and_other_types_stay() {
        let original = vec![
            kv("ip", Value::StringValue("10.0.0.7".into())),
            kv("peer.ipv4", Value::BoolValue(true)),
            kv("peer.ipv6", Value::IntValue(1)),
        ];
        let mut attributes = original.clone();
        normalize(&mut attributes);
        assert_eq!(attributes, original);
    }
}
