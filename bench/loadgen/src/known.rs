//! The list of traces a load run had acknowledged, which the query mode reads back.
//!
//! One line per trace: its ID in lowercase hex and the start of its first span in µs since the
//! Unix epoch (Jaeger's unit), after a `#` header line. The runner lists the first trace of each
//! acknowledged request (`--trace-ids-out`), which is enough to look traces up by ID and to know
//! the time range the data covers.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, bail};

const HEADER: &str = "# spoor-loadgen: trace ID (hex), start of its first span (µs since the epoch)";

/// A trace the server acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownTrace {
    pub trace_id: [u8; 16],
    pub start_unix_nanos: u64,
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

fn parse_trace_id(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 || !text.is_ascii() {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(id)
}

pub fn write_file(path: &Path, traces: &[KnownTrace]) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    writeln!(out, "{HEADER}")?;
    for trace in traces {
        writeln!(out, "{} {}", hex(&trace.trace_id), trace.start_unix_nanos / 1000)?;
    }
    out.flush().with_context(|| format!("cannot write {}", path.display()))
}

pub fn read_file(path: &Path) -> anyhow::Result<Vec<KnownTrace>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut traces = Vec::new();
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_whitespace();
        let trace_id = fields.next().and_then(parse_trace_id);
        let start_micros = fields.next().and_then(|field| field.parse::<u64>().ok());
        let (Some(trace_id), Some(start_micros)) = (trace_id, start_micros) else {
            bail!("{}:{}: expected '<32 hex digits> <start µs>', got '{line}'", path.display(), number + 1);
        };
        traces.push(KnownTrace { trace_id, start_unix_nanos: start_micros.saturating_mul(1000) });
    }
    Ok(traces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_reads_back_what_was_written() {
        let dir = std::env::temp_dir().join(format!("spoor-loadgen-known-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ids.txt");
        let traces = [
            KnownTrace { trace_id: [0xab; 16], start_unix_nanos: 1_700_000_000_123_456_000 },
            KnownTrace { trace_id: *b"0123456789abcdef", start_unix_nanos: 5_000 },
        ];
        write_file(&path, &traces).unwrap();
        assert_eq!(read_file(&path).unwrap(), traces);
        std::fs::write(&path, "zz 12\n").unwrap();
        assert!(read_file(&path).unwrap_err().to_string().contains("ids.txt:1"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab]), "000fab");
        assert_eq!(parse_trace_id(&hex(&[7; 16])), Some([7; 16]));
        assert_eq!(parse_trace_id("xyz"), None);
    }
}
