//! Calendar arithmetic on the proleptic Gregorian calendar in UTC, without a date crate: the
//! days since 1970-01-01 of a date and back (Howard Hinnant's `days_from_civil` algorithms).
//! Used for index names, RFC 3339 times and the fixtures' dates.

/// Days since 1970-01-01 of a date. A month or day past its range rolls over into the next
/// (month 13 is January of the next year, February 31 is March 3 or 2), as Go's `time.Date`
/// normalizes it.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = year + (month - 1).div_euclid(12);
    let month = (month - 1).rem_euclid(12) + 1;
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Year, month and day of a count of days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_overflow_rolls_over() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2017, 1, 25)), (2017, 1, 25));
        assert_eq!(civil_from_days(days_from_civil(2026, 12, 3)), (2026, 12, 3));
        assert_eq!(civil_from_days(days_from_civil(2026, 2, 31)), (2026, 3, 3));
        assert_eq!(civil_from_days(days_from_civil(2026, 0, 15)), (2025, 12, 15));
        assert_eq!(civil_from_days(days_from_civil(2024, 14, 1)), (2025, 2, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
