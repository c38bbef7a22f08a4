//! The `X-Qiniu-Date` format, `YYYYMMDDTHHMMSSZ` in UTC (ISO 8601 basic format), to and from
//! Unix seconds. Written out here rather than pulled from a date crate: it is one fixed format,
//! and the proleptic Gregorian day count below is all it needs.

/// Days from 1970-01-01 to `year-month-day` (proleptic Gregorian). Counts in 400-year eras of
/// 146 097 days with years starting in March, so the leap day falls at the end of a year.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: `(year, month, day)`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Unix seconds of a `YYYYMMDDTHHMMSSZ` date, or `None` unless it is exactly that: 16 ASCII
/// characters, a real calendar day, hours 00-23, minutes and seconds 00-59 (no leap second).
pub fn parse_qiniu_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        bytes[range].iter().try_fold(0i64, |value, &b| {
            b.is_ascii_digit().then(|| value * 10 + i64::from(b - b'0'))
        })
    };
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then(|| days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// `unix` seconds as `YYYYMMDDTHHMMSSZ`, what a signing client puts in `X-Qiniu-Date`.
pub fn format_qiniu_date(unix: i64) -> String {
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    let second_of_day = unix.rem_euclid(86_400);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from Python:
    // calendar.timegm(time.strptime(d, "%Y%m%dT%H%M%SZ")) for each d.
    const KNOWN: [(&str, i64); 6] = [
        ("19700101T000000Z", 0),
        ("20000229T235959Z", 951_868_799),
        ("20240301T000000Z", 1_709_251_200),
        ("20250314T092653Z", 1_741_944_413),
        ("21000228T120000Z", 4_107_499_200),
        ("19691231T235959Z", -1),
    ];

    #[test]
    fn known_dates_both_ways() {
        for (text, unix) in KNOWN {
            assert_eq!(parse_qiniu_date(text), Some(unix), "{text}");
            assert_eq!(format_qiniu_date(unix), text, "{unix}");
        }
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        let start = days_from_civil(1900, 1, 1);
        for days in start..start + 146_097 {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=days_in_month(y, m)).contains(&d), "{y}-{m}-{d}");
            assert_eq!(days_from_civil(y, m, d), days);
            let unix = days * 86_400 + 45_296;
            assert_eq!(parse_qiniu_date(&format_qiniu_date(unix)), Some(unix));
        }
    }

    #[test]
    fn not_quite_dates_are_refused() {
        for bad in [
            "",
            "20250314T092653",
            "20250314 092653Z",
            "20250314T092653z",
            "2025-03-14T09:26:53Z",
            "20250314T092653Z ",
            "20250230T000000Z",
            "21000229T000000Z",
            "20251301T000000Z",
            "20250001T000000Z",
            "20250100T000000Z",
            "20250101T240000Z",
            "20250101T006000Z",
            "20250101T000060Z",
            "2025031+T092653Z",
            "２0250314T09265Z",
        ] {
            assert_eq!(parse_qiniu_date(bad), None, "{bad:?}");
        }
        assert!(parse_qiniu_date("20240229T000000Z").is_some());
    }
}
