//! Calendar dates of the desk's forms (contracts, authorisations) and the
//! instants they stand for: a date is the start of that day in the
//! provider's time zone; "valid until" a date ends at the start of the
//! next day.

use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::i18n::Lang;

/// The start of a `YYYY-MM-DD` day, in Unix seconds.
pub fn day_start(raw: &str, zone: &TimeZone) -> Option<i64> {
    let date: Date = raw.trim().parse().ok()?;
    if date.year() < 1970 || date.year() > 9000 {
        return None;
    }
    let zoned = date.to_zoned(zone.clone()).ok()?;
    Some(zoned.timestamp().as_second())
}

/// The end (exclusive) of a period valid until this day.
pub fn day_end(raw: &str, zone: &TimeZone) -> Option<i64> {
    let date: Date = raw.trim().parse().ok()?;
    let next = date.tomorrow().ok()?;
    day_start(&next.to_string(), zone)
}

fn date_of(ts: i64, zone: &TimeZone) -> Option<Date> {
    let at = jiff::Timestamp::from_second(ts).ok()?;
    Some(at.to_zoned(zone.clone()).date())
}

/// A date as the reader writes it.
pub fn show(ts: i64, zone: &TimeZone, lang: Lang) -> String {
    match (date_of(ts, zone), lang) {
        (Some(d), Lang::De) => d.strftime("%d.%m.%Y").to_string(),
        (Some(d), Lang::En) => d.to_string(),
        (None, _) => String::new(),
    }
}

/// The end of a period as people read it: the last day in force when it
/// ends at a midnight (a "valid until" date), else the moment it ended
/// ("End now"), so an authorisation ended at 17:23 does not read as if it
/// lasted the day.
pub fn show_end(ts: i64, zone: &TimeZone, lang: Lang) -> String {
    let Ok(at) = jiff::Timestamp::from_second(ts) else {
        return String::new();
    };
    let local = at.to_zoned(zone.clone());
    if local.time() == jiff::civil::Time::midnight() {
        return show(ts - 1, zone, lang);
    }
    match lang {
        Lang::De => local.strftime("%d.%m.%Y, %H:%M Uhr").to_string(),
        Lang::En => local.strftime("%Y-%m-%d %H:%M").to_string(),
    }
}

/// A date as the value of `<input type="date">`.
pub fn input_value(ts: i64, zone: &TimeZone) -> String {
    date_of(ts, zone).map(|d| d.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_local_and_ends_exclusive() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let start = day_start("2026-12-03", &berlin).unwrap();
        assert_eq!(start, 1_796_252_400); // 2026-12-02T23:00:00Z
        assert_eq!(day_end("2026-12-03", &berlin), Some(start + 86_400));
        assert_eq!(input_value(start, &berlin), "2026-12-03");
        assert_eq!(show(start + 86_400 - 1, &berlin, Lang::De), "03.12.2026");
        assert_eq!(day_start("03.12.2026", &berlin), None);
        assert_eq!(day_start("", &berlin), None);
        // A "valid until" date shows as its last day; "End now" shows when.
        assert_eq!(show_end(start + 86_400, &berlin, Lang::De), "03.12.2026");
        assert_eq!(
            show_end(start + 17 * 3_600 + 23 * 60, &berlin, Lang::De),
            "03.12.2026, 17:23 Uhr"
        );
        assert_eq!(
            show_end(start + 17 * 3_600 + 23 * 60, &berlin, Lang::En),
            "2026-12-03 17:23"
        );
    }
}
