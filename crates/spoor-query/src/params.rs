//! Query-parameter parsing with Jaeger's semantics and error messages
//! (`jaegerquery/internal/query_parser.go`, `apiv3/http_gateway.go`).

use std::collections::BTreeMap;
use std::time::Duration;

/// A Go `time.Duration` in nanoseconds (may be negative).
pub type GoDuration = i128;

/// Go's `time.ParseDuration`, with its error messages.
pub fn parse_go_duration(s: &str) -> Result<GoDuration, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let mut rest = s;
    let negative = rest.starts_with('-');
    if let Some(r) = rest.strip_prefix('-').or_else(|| rest.strip_prefix('+')) {
        rest = r;
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    let mut exact: i128 = 0;
    let mut all_exact = true;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(r) = rest.strip_prefix('.') {
            let frac_len = r.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &r[..frac_len];
            rest = &r[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {s:?}"));
        }
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {s:?}")),
        };
        let int_value: i128 = if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| invalid())? };
        exact = exact.checked_add(int_value.checked_mul(scale).ok_or_else(invalid)?).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            all_exact = false;
            let frac: f64 = format!("0.{frac_part}").parse().map_err(|_| invalid())?;
            total += frac * scale as f64;
        }
    }
    let nanos = if all_exact { exact } else { exact + total as i128 };
    if nanos > i64::MAX as i128 {
        return Err(invalid());
    }
    Ok(if negative { -nanos } else { nanos })
}

/// A non-negative std duration from Go nanoseconds (negative bounds clamp to zero).
pub fn to_std_duration(nanos: GoDuration) -> Duration {
    Duration::from_nanos(nanos.clamp(0, u64::MAX as i128) as u64)
}

/// Go's `strconv.ParseInt(s, 10, bits)`.
pub fn parse_go_int(s: &str, bits: u32) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseInt: parsing {s:?}: invalid syntax"));
    }
    let value: i128 = s.parse().map_err(|_| format!("strconv.ParseInt: parsing {s:?}: value out of range"))?;
    let limit = 1i128 << (bits - 1);
    if value < -limit || value >= limit {
        return Err(format!("strconv.ParseInt: parsing {s:?}: value out of range"));
    }
    Ok(value as i64)
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
    }
}

/// Jaeger's `newParseError`.
pub fn param_error(param: &str, err: &str) -> String {
    format!("unable to parse param '{param}': {err}")
}

/// The `tag=k:v` and `tags={json}` parameters merged, as Jaeger's `parseTags`.
pub fn parse_tags(simple: &[&str], json: &[&str]) -> Result<BTreeMap<String, String>, String> {
    let mut tags = BTreeMap::new();
    for tag in simple {
        match tag.split_once(':') {
            Some((key, value)) => {
                tags.insert(key.to_string(), value.to_string());
            }
            None => return Err(format!("malformed 'tag' parameter, expecting key:value, received: {tag}")),
        }
    }
    for text in json {
        let map: BTreeMap<String, String> = serde_json::from_str(text)
            .map_err(|e| format!("malformed 'tags' parameter, cannot unmarshal JSON: {e}"))?;
        tags.extend(map);
    }
    Ok(tags)
}

/// The values of a query string by name, in order (repeated names kept).
#[derive(Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| {
                q.split('&')
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                        (decode_component(k), decode_component(v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        QueryParams(pairs)
    }

    /// The first value, as Go's `Query().Get` (empty when absent).
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }

    /// The first non-empty of several spellings of one parameter.
    pub fn get_any<'a>(&'a self, names: &[&'a str]) -> (&'a str, &'a str) {
        names.iter().map(|n| (*n, self.get(n))).find(|(_, v)| !v.is_empty()).unwrap_or((names[0], ""))
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// URL query decoding: `+` is a space and `%XX` a byte; bad escapes stay as they are.
pub fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lowercase hex, two digits a byte: trace IDs in api_v3 answers, ETags.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1.2s").unwrap(), 1_200_000_000);
        assert_eq!(parse_go_duration("100ms").unwrap(), 100_000_000);
        assert_eq!(parse_go_duration("500us").unwrap(), 500_000);
        assert_eq!(parse_go_duration("500µs").unwrap(), 500_000);
        assert_eq!(parse_go_duration("1h2m3s").unwrap(), 3_723_000_000_000);
        assert_eq!(parse_go_duration("-1.5h").unwrap(), -5_400_000_000_000);
        assert_eq!(parse_go_duration("0").unwrap(), 0);
        assert_eq!(parse_go_duration("abc").unwrap_err(), "time: invalid duration \"abc\"");
        assert_eq!(parse_go_duration("10").unwrap_err(), "time: missing unit in duration \"10\"");
        assert_eq!(parse_go_duration("10d").unwrap_err(), "time: unknown unit \"d\" in duration \"10d\"");
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration(".s").is_err());
    }

    #[test]
    fn tags_merge_both_forms() {
        let tags = parse_tags(&["http.url:http://x:80"], &[r#"{"error":"true"}"#]).unwrap();
        assert_eq!(tags["http.url"], "http://x:80");
        assert_eq!(tags["error"], "true");
        assert!(parse_tags(&["nocolon"], &[]).is_err());
        assert!(parse_tags(&[], &[r#"{"a":1}"#]).unwrap_err().starts_with("malformed 'tags' parameter"));
    }

    #[test]
    fn query_strings_decode() {
        let q = QueryParams::parse(Some("service=a%20b&tag=x:1&tag=y:2&tags=%7B%22k%22%3A%22v%22%7D&e=%zz"));
        assert_eq!(q.get("service"), "a b");
        assert_eq!(q.all("tag"), vec!["x:1", "y:2"]);
        assert_eq!(q.get("tags"), r#"{"k":"v"}"#);
        assert_eq!(q.get("e"), "%zz");
        assert_eq!(q.get("missing"), "");
    }
}
