use chrono::{Offset, TimeZone};
use chrono_tz::Tz;
use serde::Deserialize;

use super::error::ReferenceError;
use crate::contract::Session;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_HOUR: i64 = 3_600 * MICROS_PER_SECOND;
const SECONDS_PER_DAY: i64 = 86_400;

/// A trading calendar: when an instrument's sessions are, in its exchange's local time.
/// Exchange holidays are not modelled: a holiday weekday reads as a normal trading day.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub name: String,
    /// `None` for instruments that trade around the clock.
    pub hours: Option<CalendarHours>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CalendarHours {
    pub timezone: Tz,
    /// Trading days, Monday first.
    pub trading_days: [bool; 7],
    /// Seconds after local midnight: extended open <= regular open < regular close <= extended close.
    pub extended_open: u32,
    pub regular_open: u32,
    pub regular_close: u32,
    pub extended_close: u32,
}

#[derive(Debug, Deserialize)]
pub(super) struct CalendarRow {
    calendar: String,
    timezone: String,
    trading_days: String,
    extended_open: Option<String>,
    regular_open: Option<String>,
    regular_close: Option<String>,
    extended_close: Option<String>,
}

impl TryFrom<CalendarRow> for Calendar {
    type Error = ReferenceError;

    fn try_from(row: CalendarRow) -> Result<Self, Self::Error> {
        let bad =
            |problem: &str| ReferenceError::BadCalendar { calendar: row.calendar.clone(), problem: problem.into() };
        let times = [&row.extended_open, &row.regular_open, &row.regular_close, &row.extended_close];
        if times.iter().all(|t| t.as_deref().is_none_or(str::is_empty)) {
            return Ok(Calendar { name: row.calendar.clone(), hours: None });
        }
        let mut seconds = [0u32; 4];
        for (slot, time) in seconds.iter_mut().zip(times) {
            *slot = time.as_deref().and_then(parse_hh_mm).ok_or_else(|| bad("session times must all be HH:MM"))?;
        }
        let [extended_open, regular_open, regular_close, extended_close] = seconds;
        if !(extended_open <= regular_open && regular_open < regular_close && regular_close <= extended_close) {
            return Err(bad("session times must be ordered"));
        }
        let timezone: Tz = row.timezone.parse().map_err(|_| bad("unknown time zone"))?;
        let trading_days = parse_days(&row.trading_days).ok_or_else(|| bad("trading_days must look like Mon-Fri"))?;
        Ok(Calendar {
            name: row.calendar.clone(),
            hours: Some(CalendarHours {
                timezone,
                trading_days,
                extended_open,
                regular_open,
                regular_close,
                extended_close,
            }),
        })
    }
}

fn parse_hh_mm(text: &str) -> Option<u32> {
    let (hours, minutes) = text.split_once(':')?;
    let (hours, minutes): (u32, u32) = (hours.parse().ok()?, minutes.parse().ok()?);
    (hours <= 24 && minutes < 60).then_some(hours * 3_600 + minutes * 60)
}

fn parse_days(text: &str) -> Option<[bool; 7]> {
    const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let day = |name: &str| NAMES.iter().position(|n| *n == name.trim());
    let (first, last) = match text.split_once('-') {
        Some((first, last)) => (day(first)?, day(last)?),
        None => (day(text)?, day(text)?),
    };
    let mut days = [false; 7];
    (first..=last).for_each(|d| days[d] = true);
    (first <= last).then_some(days)
}

impl CalendarHours {
    /// The session at a local weekday (0 = Monday) and second of the day.
    fn session_at(&self, weekday: usize, second_of_day: u32) -> Session {
        if !self.trading_days[weekday] || second_of_day < self.extended_open || second_of_day >= self.extended_close {
            Session::Closed
        } else if (self.regular_open..self.regular_close).contains(&second_of_day) {
            Session::Regular
        } else {
            Session::Extended
        }
    }

    fn utc_offset_seconds(&self, time_us: i64) -> i64 {
        let utc = chrono::DateTime::from_timestamp_micros(time_us).unwrap_or_default().naive_utc();
        i64::from(self.timezone.offset_from_utc_datetime(&utc).fix().local_minus_utc())
    }
}

/// Answers "which session was it at this instant" for each calendar, caching the UTC offset per
/// UTC hour so the time-zone rules are consulted about once an hour, not once a trade.
#[derive(Debug, Clone)]
pub struct SessionClock {
    calendars: Vec<Calendar>,
    cached_offsets: Vec<Option<(i64, i64)>>,
}

impl SessionClock {
    pub fn new(calendars: Vec<Calendar>) -> Self {
        let cached_offsets = vec![None; calendars.len()];
        SessionClock { calendars, cached_offsets }
    }

    pub fn session(&mut self, calendar: usize, time_us: i64) -> Session {
        let Some(hours) = &self.calendars[calendar].hours else {
            return Session::Continuous;
        };
        let hour = time_us.div_euclid(MICROS_PER_HOUR);
        let offset = match self.cached_offsets[calendar] {
            Some((cached_hour, offset)) if cached_hour == hour => offset,
            _ => {
                let at_start = hours.utc_offset_seconds(hour * MICROS_PER_HOUR);
                let at_end = hours.utc_offset_seconds((hour + 1) * MICROS_PER_HOUR - 1);
                if at_start == at_end {
                    self.cached_offsets[calendar] = Some((hour, at_start));
                    at_start
                } else {
                    hours.utc_offset_seconds(time_us)
                }
            }
        };
        let local_seconds = time_us.div_euclid(MICROS_PER_SECOND) + offset;
        let day = local_seconds.div_euclid(SECONDS_PER_DAY);
        // 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
        let weekday = (day + 3).rem_euclid(7) as usize;
        let second_of_day = local_seconds.rem_euclid(SECONDS_PER_DAY) as u32;
        hours.session_at(weekday, second_of_day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ReferenceData;

    fn micros(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339).map(|t| t.timestamp_micros()).unwrap_or(i64::MIN)
    }

    #[test]
    fn us_equity_sessions_follow_new_york_time_across_daylight_saving() {
        let reference = ReferenceData::bundled().expect("bundled reference data");
        let us = reference.calendars().iter().position(|c| c.name == "us_equity").expect("us_equity");
        let mut clock = SessionClock::new(reference.calendars().to_vec());
        let cases = [
            ("2024-01-10T14:29:59Z", Session::Extended), // 09:29:59 EST
            ("2024-01-10T14:30:00Z", Session::Regular),  // 09:30 EST
            ("2024-01-10T20:59:59Z", Session::Regular),  // 15:59:59 EST
            ("2024-01-10T21:00:00Z", Session::Extended), // 16:00 EST
            ("2024-01-11T01:00:00Z", Session::Closed),   // 20:00 EST
            ("2024-07-10T13:30:00Z", Session::Regular),  // 09:30 EDT
            ("2024-07-10T13:29:00Z", Session::Extended), // 09:29 EDT
            ("2024-07-13T15:00:00Z", Session::Closed),   // Saturday
            ("2024-03-10T06:59:59Z", Session::Closed),   // Sunday 01:59:59 EST, just before the switch
            ("2024-03-11T08:00:00Z", Session::Extended), // Monday 04:00 EDT
            ("2024-03-11T07:59:59Z", Session::Closed),   // Monday 03:59:59 EDT
        ];
        for (time, expected) in cases {
            assert_eq!(clock.session(us, micros(time)), expected, "{time}");
        }
        let crypto = reference.calendars().iter().position(|c| c.name == "continuous").expect("continuous");
        assert_eq!(clock.session(crypto, micros("2024-07-13T15:00:00Z")), Session::Continuous);
    }
}
