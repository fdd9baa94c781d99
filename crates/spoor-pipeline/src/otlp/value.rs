//! An `AnyValue` as text, as pdata's `Value.AsString` renders it: the text the collector's
//! Jaeger translator puts in a tag for a map or a list, and the text Jaeger's search compares a
//! tag query with. Lists and maps are JSON as pdata v1.61.0 (Jaeger v2.20.0) writes them, and
//! floats are in Go's `encoding/json` form.

use base64::Engine as _;

use super::{AnyValue, any_value::Value};

/// pdata's `Value.Str()`: the string of a string value, and empty for any other type.
pub fn as_str(value: Option<&AnyValue>) -> &str {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s,
        _ => "",
    }
}

/// pdata's `Value.AsString`: strings as they are, bools `true`/`false`, ints in decimal, doubles
/// as [`double_as_string`], bytes in base64, and lists and maps as [`as_json`] (empty when that
/// fails, as pdata ignores the encoder's error). An empty value gives an empty string.
pub fn as_string(value: Option<&AnyValue>) -> String {
    let Some(inner) = value.and_then(|v| v.value.as_ref()) else {
        return String::new();
    };
    match inner {
        Value::StringValue(s) => s.clone(),
        Value::BoolValue(b) => b.to_string(),
        Value::IntValue(i) => i.to_string(),
        Value::DoubleValue(d) => double_as_string(*d),
        Value::BytesValue(b) => base64::engine::general_purpose::STANDARD.encode(b),
        // An index into a profile's string table: pdata has no type for it outside profiles and
        // reads it as an empty value, and so does the OTLP spec's advice to receivers.
        Value::StringValueStrindex(_) => String::new(),
        Value::ArrayValue(_) | Value::KvlistValue(_) => as_json(inner).unwrap_or_default(),
    }
}

/// Go's `json.Encoder` (HTML escaping off, as pdata's `AsString` has it since v1.58.0) over
/// pdata's `Value.AsRaw()`: map keys sorted with the last of a repeated key winning, bytes in
/// base64, floats as [`go_json_float`], and an empty value as `null`. `None` when a float is NaN
/// or infinite, which Go's encoder refuses.
pub fn as_json(value: &Value) -> Option<String> {
    let mut out = String::new();
    write_json(Some(value), &mut out)?;
    Some(out)
}

fn write_json(value: Option<&Value>, out: &mut String) -> Option<()> {
    match value {
        None | Some(Value::StringValueStrindex(_)) => out.push_str("null"),
        Some(Value::StringValue(s)) => write_json_string(s, out),
        Some(Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => out.push_str(&i.to_string()),
        Some(Value::DoubleValue(d)) => out.push_str(&go_json_float(*d)?),
        Some(Value::BytesValue(b)) => write_json_string(&base64::engine::general_purpose::STANDARD.encode(b), out),
        Some(Value::ArrayValue(array)) => {
            out.push('[');
            for (i, item) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item.value.as_ref(), out)?;
            }
            out.push(']');
        }
        Some(Value::KvlistValue(list)) => {
            // A Go map: the last duplicate wins and the keys come out sorted.
            let mut sorted = std::collections::BTreeMap::new();
            for kv in &list.values {
                sorted.insert(kv.key.as_str(), kv.value.as_ref().and_then(|v| v.value.as_ref()));
            }
            out.push('{');
            for (i, (key, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(key, out);
                out.push(':');
                write_json(item, out)?;
            }
            out.push('}');
        }
    }
    Some(())
}

/// A JSON string as Go's encoder writes it with HTML escaping off: as serde_json writes it,
/// except that U+2028 and U+2029 are escaped, which Go does always.
fn write_json_string(text: &str, out: &mut String) {
    let json = serde_json::Value::String(text.to_owned()).to_string();
    if json.contains(['\u{2028}', '\u{2029}']) {
        out.push_str(&json.replace('\u{2028}', "\\u2028").replace('\u{2029}', "\\u2029"));
    } else {
        out.push_str(&json);
    }
}

/// A float as Go's `encoding/json` writes it: the shortest round-trip digits, plain unless the
/// magnitude is below 1e-6 or at least 1e21, then `1.5e-7` or `1e+21`. `None` for NaN and the
/// infinities, which Go refuses to encode.
pub fn go_json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{f:e}");
        let (mantissa, exp) = text.split_once('e')?;
        let exp: i32 = exp.parse().ok()?;
        return Some(if exp < 0 { format!("{mantissa}e-{}", -exp) } else { format!("{mantissa}e+{exp:02}") });
    }
    // Rust's Display for f64 is the shortest round-trip form in plain notation, as Go's 'f', -1.
    Some(format!("{f}"))
}

/// pdata's `float64AsString`: [`go_json_float`], and for NaN and the infinities the text of the
/// encoder's error, as pdata wrote it before v1.57.0 (v1.61.0 writes `NaN`, `Infinity` and
/// `-Infinity`).
pub fn double_as_string(f: f64) -> String {
    go_json_float(f).unwrap_or_else(|| {
        let go_name = if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "+Inf"
        } else {
            "-Inf"
        };
        format!("json: unsupported value: {go_name}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::KeyValue;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn value(v: Value) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    fn kv(key: &str, v: Value) -> KeyValue {
        KeyValue { key: key.to_owned(), value: Some(value(v)), ..Default::default() }
    }

    fn map(entries: Vec<KeyValue>) -> AnyValue {
        value(Value::KvlistValue(KeyValueList { values: entries }))
    }

    fn list(items: Vec<Value>) -> AnyValue {
        value(Value::ArrayValue(ArrayValue { values: items.into_iter().map(value).collect() }))
    }

    #[test]
    fn floats_print_as_go_prints_them() {
        assert_eq!(go_json_float(72.5).as_deref(), Some("72.5"));
        assert_eq!(go_json_float(100.0).as_deref(), Some("100"));
        assert_eq!(go_json_float(0.0).as_deref(), Some("0"));
        assert_eq!(go_json_float(1e20).as_deref(), Some("100000000000000000000"));
        assert_eq!(go_json_float(1e21).as_deref(), Some("1e+21"));
        assert_eq!(go_json_float(-2.5e300).as_deref(), Some("-2.5e+300"));
        assert_eq!(go_json_float(1e-6).as_deref(), Some("0.000001"));
        assert_eq!(go_json_float(1.5e-7).as_deref(), Some("1.5e-7"));
        assert_eq!(go_json_float(1e-10).as_deref(), Some("1e-10"));
        assert_eq!(go_json_float(123456789.125).as_deref(), Some("123456789.125"));
        assert_eq!(go_json_float(f64::NAN), None);
        assert_eq!(go_json_float(f64::INFINITY), None);
    }

    #[test]
    fn doubles_as_strings_name_go_errors() {
        assert_eq!(double_as_string(1.5), "1.5");
        assert_eq!(double_as_string(f64::NAN), "json: unsupported value: NaN");
        assert_eq!(double_as_string(f64::INFINITY), "json: unsupported value: +Inf");
        assert_eq!(double_as_string(f64::NEG_INFINITY), "json: unsupported value: -Inf");
    }

    #[test]
    fn only_strings_have_a_str() {
        assert_eq!(as_str(Some(&value(Value::StringValue("api".into())))), "api");
        assert_eq!(as_str(Some(&value(Value::IntValue(7)))), "");
        assert_eq!(as_str(None), "");
    }

    #[test]
    fn scalars_render_as_pdata_as_string() {
        assert_eq!(as_string(Some(&value(Value::StringValue("a<b".into())))), "a<b");
        assert_eq!(as_string(Some(&value(Value::IntValue(-12)))), "-12");
        assert_eq!(as_string(Some(&value(Value::BoolValue(true)))), "true");
        assert_eq!(as_string(Some(&value(Value::DoubleValue(1e21)))), "1e+21");
        assert_eq!(as_string(Some(&value(Value::BytesValue(vec![1, 2])))), "AQI=");
        assert_eq!(as_string(Some(&AnyValue { value: None })), "");
        assert_eq!(as_string(None), "");
    }

    #[test]
    fn a_string_table_index_is_an_empty_value() {
        // pdata's Value.Type() has no case for it: AsString is "" and AsRaw is nil.
        assert_eq!(as_string(Some(&value(Value::StringValueStrindex(7)))), "");
        let with_index = list(vec![Value::StringValueStrindex(7), Value::IntValue(1)]);
        assert_eq!(as_string(Some(&with_index)), "[null,1]");
    }

    #[test]
    fn maps_are_go_maps_with_sorted_keys_and_the_last_duplicate() {
        let nested = map(vec![
            kv("z", Value::DoubleValue(1e21)),
            kv("a", Value::BoolValue(false)),
            kv("a", Value::StringValue("second".into())),
            kv("b", Value::BytesValue(vec![0xff])),
            KeyValue { key: "empty".into(), value: None, ..Default::default() },
        ]);
        assert_eq!(as_string(Some(&nested)), r#"{"a":"second","b":"/w==","empty":null,"z":1e+21}"#);
    }

    #[test]
    fn json_escapes_line_separators_but_not_html() {
        let text = list(vec![Value::StringValue("<a>&\u{2028}\u{2029}\"\n".into())]);
        assert_eq!(as_string(Some(&text)), r#"["<a>&\u2028\u2029\"\n"]"#);
    }

    #[test]
    fn a_list_with_a_nan_is_empty_as_go_fails_to_encode_it() {
        let with_nan = list(vec![Value::IntValue(1), Value::DoubleValue(f64::NAN)]);
        assert_eq!(as_string(Some(&with_nan)), "");
        assert_eq!(as_json(with_nan.value.as_ref().unwrap()), None);
    }
}
