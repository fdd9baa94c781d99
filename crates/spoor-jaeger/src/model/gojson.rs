//! JSON text as Go's `encoding/json` writes it, where it differs from serde_json: `<`, `>`, `&`,
//! U+2028 and U+2029 escaped, and floats as `strconv` formats them for Jaeger's `AsString`. Floats
//! in JSON are `spoor_pipeline::otlp::value::go_json_float`.

use serde::Serialize;

/// `strconv.FormatFloat(f, 'g', 10, 64)`, which Jaeger's `KeyValue.AsString` uses.
pub fn format_float_g10(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let text = format!("{:.9e}", f.abs());
    let Some((mantissa, exp)) = text.split_once('e') else {
        return text;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let sign = if f < 0.0 { "-" } else { "" };
    // Go's %g: exponent form below 1e-4 or at and above 10 significant digits.
    if !(-4..10).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{exp_sign}{:02}", exp.abs());
    }
    let point = exp + 1;
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if (point as usize) >= digits.len() {
        format!("{}{}", digits, "0".repeat(point as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

/// Escapes what Go's encoder escapes and serde_json does not. These characters only occur
/// inside JSON strings, so a byte-level pass is exact.
pub fn escape_like_go(json: Vec<u8>) -> Vec<u8> {
    let needs = json.iter().enumerate().any(|(i, b)| matches!(b, b'<' | b'>' | b'&') || is_line_separator(&json, i));
    if !needs {
        return json;
    }
    let mut out = Vec::with_capacity(json.len() + 16);
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            _ if is_line_separator(&json, i) => {
                out.extend_from_slice(if json[i + 2] == 0xA8 { b"\\u2028" } else { b"\\u2029" });
                i += 3;
                continue;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn is_line_separator(json: &[u8], i: usize) -> bool {
    json[i] == 0xE2 && json.get(i + 1) == Some(&0x80) && matches!(json.get(i + 2), Some(0xA8 | 0xA9))
}

/// Serializes like Go's `json.Marshal` (compact) or `MarshalIndent` with `indent`.
pub fn to_vec<T: Serialize>(value: &T, indent: Option<&str>) -> serde_json::Result<Vec<u8>> {
    let bytes = match indent {
        None => serde_json::to_vec(value)?,
        Some(indent) => {
            let mut out = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
            let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
            value.serialize(&mut ser)?;
            out
        }
    };
    Ok(escape_like_go(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g10_matches_strconv() {
        assert_eq!(format_float_g10(72.5), "72.5");
        assert_eq!(format_float_g10(100.0), "100");
        assert_eq!(format_float_g10(1e10), "1e+10");
        assert_eq!(format_float_g10(123456789.0), "123456789");
        assert_eq!(format_float_g10(0.00001), "1e-05");
        assert_eq!(format_float_g10(0.0001), "0.0001");
        assert_eq!(format_float_g10(-1.23456789012), "-1.23456789");
        assert_eq!(format_float_g10(-1.234567891234), "-1.234567891");
    }

    #[test]
    fn html_characters_are_escaped() {
        let out = escape_like_go(br#"{"a":"<b>&"}"#.to_vec());
        assert_eq!(out, br#"{"a":"\u003cb\u003e\u0026"}"#.to_vec());
    }
}
