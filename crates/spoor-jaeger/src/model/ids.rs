//! Trace and span IDs as Jaeger prints and parses them.
//!
//! Jaeger's `model.TraceID` is a (high, low) pair of u64. Its string is 16 hex characters when
//! the high half is zero and 32 otherwise; parsing accepts 1 to 32 hex characters and pads.

/// A trace ID's high and low halves from OTLP bytes (big-endian; short input is right-aligned).
pub fn trace_id_halves(id: &[u8]) -> (u64, u64) {
    let mut full = [0u8; 16];
    let take = id.len().min(16);
    full[16 - take..].copy_from_slice(&id[id.len() - take..]);
    let (high, low) = full.split_at(8);
    (u64_be(high), u64_be(low))
}

/// A span ID as u64 from OTLP bytes.
pub fn span_id_u64(id: &[u8]) -> u64 {
    let take = id.len().min(8);
    let mut full = [0u8; 8];
    full[8 - take..].copy_from_slice(&id[id.len() - take..]);
    u64::from_be_bytes(full)
}

fn u64_be(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
    u64::from_be_bytes(b)
}

/// Jaeger's `TraceID.String()`.
pub fn trace_id_string(id: &[u8]) -> String {
    let (high, low) = trace_id_halves(id);
    if high == 0 { format!("{low:016x}") } else { format!("{high:016x}{low:016x}") }
}

/// Jaeger's `SpanID.String()`.
pub fn span_id_string(id: &[u8]) -> String {
    format!("{:016x}", span_id_u64(id))
}

/// Jaeger's `model.TraceIDFromString`, with its error messages.
pub fn parse_trace_id(s: &str) -> Result<[u8; 16], String> {
    if s.len() > 32 {
        return Err(format!("TraceID cannot be longer than 32 hex characters: {s}"));
    }
    let (high, low) = if s.len() > 16 {
        let split = s.len() - 16;
        if !s.is_char_boundary(split) {
            return Err(parse_uint_error(s));
        }
        (parse_hex_u64(&s[..split])?, parse_hex_u64(&s[split..])?)
    } else {
        (0, parse_hex_u64(s)?)
    };
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&high.to_be_bytes());
    id[8..].copy_from_slice(&low.to_be_bytes());
    Ok(id)
}

/// Go's `strconv.ParseUint(s, 16, 64)`.
fn parse_hex_u64(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(parse_uint_error(s));
    }
    u64::from_str_radix(s, 16).map_err(|_| format!("strconv.ParseUint: parsing {s:?}: value out of range"))
}

fn parse_uint_error(s: &str) -> String {
    format!("strconv.ParseUint: parsing {s:?}: invalid syntax")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_print_16_chars() {
        let id = parse_trace_id("1").unwrap();
        assert_eq!(trace_id_string(&id), "0000000000000001");
        let id = parse_trace_id("83a9efd15c1c98a977e0711cc93ee28b").unwrap();
        assert_eq!(trace_id_string(&id), "83a9efd15c1c98a977e0711cc93ee28b");
        let id = parse_trace_id("100000000000000ff").unwrap();
        assert_eq!(trace_id_string(&id), "000000000000000100000000000000ff");
    }

    #[test]
    fn bad_ids_get_go_messages() {
        assert_eq!(parse_trace_id("xyz").unwrap_err(), "strconv.ParseUint: parsing \"xyz\": invalid syntax");
        assert_eq!(parse_trace_id("").unwrap_err(), "strconv.ParseUint: parsing \"\": invalid syntax");
        assert!(parse_trace_id(&"a".repeat(33)).unwrap_err().starts_with("TraceID cannot be longer"));
    }
}
