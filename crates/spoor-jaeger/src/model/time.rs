//! RFC 3339 timestamps with nanoseconds, as Go's `time.RFC3339Nano` parses them (api_v3's
//! `start_time_min`/`max` and the proto-JSON fixtures).

const LAYOUT: &str = "2006-01-02T15:04:05.999999999Z07:00";

/// Parses an RFC 3339 timestamp into Unix nanoseconds.
pub fn parse_rfc3339_nanos(s: &str) -> Result<i128, String> {
    parse(s).ok_or_else(|| format!("parsing time {s:?} as {LAYOUT:?}: cannot parse {s:?} as \"2006\""))
}

fn parse(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos: i128 = 0;
    if rest.first() == Some(&b'.') {
        let count = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if count == 0 || count > 9 {
            return None;
        }
        let frac = digits(&rest[1..1 + count])?;
        nanos = frac as i128 * 10i128.pow(9 - count as u32);
        rest = &rest[1 + count..];
    }
    let offset_seconds: i128 = match rest {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])? as i128;
            let minutes = digits(&[*m1, *m2])? as i128;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = hours * 3600 + minutes * 60;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let days = days_from_civil(year as i64, month, day) as i128;
    let seconds = days * 86_400 + (hour * 3600 + minute * 60 + second) as i128 - offset_seconds;
    Some(seconds * 1_000_000_000 + nanos)
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a valid date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    spoor_pipeline::civil::days_from_civil(year, i64::from(month), i64::from(day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_and_fractions() {
        assert_eq!(parse_rfc3339_nanos("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse_rfc3339_nanos("2017-01-26T16:46:31.639875139-05:00").unwrap(), 1_485_467_191_639_875_139);
        assert_eq!(parse_rfc3339_nanos("2024-02-29T00:00:01.5+01:00").unwrap(), 1_709_161_201_500_000_000);
        assert!(parse_rfc3339_nanos("2024-02-30T00:00:00Z").is_err());
        assert!(parse_rfc3339_nanos("yesterday").is_err());
    }
}
