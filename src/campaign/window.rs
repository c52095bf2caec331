//! Reboot windows (pure): `Mon-Fri 02:00-05:00`, `Sat,Sun 00:00-24:00`, `daily 22:00-06:00`.
//! A host of a reboot campaign starts only while one window is open; hosts already started
//! finish. A window whose end is before its start wraps past midnight and belongs to the day it
//! starts on (`Fri 22:00-02:00` is open Friday night into Saturday morning). Times are wall-clock
//! minutes in the campaign's time zone; the engine converts the clock (`zone`, the I/O edge).

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_MINUTES: u32 = 24 * 60;
const WEEK_MINUTES: u32 = 7 * DAY_MINUTES;

/// One window: the days it starts on (bit 0 = Monday) and its minutes of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    days: u8,
    start: u32,
    end: u32,
}

/// A point of the week in the campaign's zone: weekday (0 = Monday) and minute of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekTime {
    pub weekday: u32,
    pub minute: u32,
}

impl WeekTime {
    fn of_week(self) -> u32 {
        self.weekday * DAY_MINUTES + self.minute
    }
}

fn day(s: &str) -> Result<u32, String> {
    let l = s.to_ascii_lowercase();
    DAYS.iter()
        // `get`: a name with a character of several bytes is cut on a boundary or not at all
        // (`&l[..3]` panicked inside `Mo€day`)
        .position(|d| {
            l == *d
                || (l.len() > 3 && l.get(..3).is_some_and(|p| d.starts_with(p)) && is_day_name(&l))
        })
        .map(|i| i as u32)
        .ok_or_else(|| format!("{s:?} is not a day (Mon, Tue, ... Sun)"))
}

fn is_day_name(l: &str) -> bool {
    [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    .contains(&l)
}

fn clock(s: &str) -> Result<u32, String> {
    let bad = || format!("{s:?} is not a time HH:MM (00:00 to 24:00)");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 24 || m > 59 || (h == 24 && m != 0) || s.len() != 5 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl Window {
    /// `DAYS HH:MM-HH:MM`; DAYS is `daily`, `*`, a day, a range (`Mon-Fri`, wrapping: `Fri-Mon`)
    /// or a comma list of those.
    pub fn parse(text: &str) -> Result<Window, String> {
        let err = |m: String| format!("reboot window {text:?}: {m}");
        let mut parts = text.split_whitespace();
        let (Some(days), Some(times), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(err(
                "expected `DAYS HH:MM-HH:MM`, e.g. `Mon-Fri 02:00-05:00`".into(),
            ));
        };
        let mut mask = 0u8;
        if days == "daily" || days == "*" {
            mask = 0x7f;
        } else {
            for item in days.split(',') {
                match item.split_once('-') {
                    Some((a, b)) => {
                        let (a, b) = (day(a).map_err(err)?, day(b).map_err(err)?);
                        let mut d = a;
                        loop {
                            mask |= 1 << d;
                            if d == b {
                                break;
                            }
                            d = (d + 1) % 7;
                        }
                    }
                    None => mask |= 1 << day(item).map_err(err)?,
                }
            }
        }
        let (s, e) = times
            .split_once('-')
            .ok_or_else(|| err(format!("{times:?} is not HH:MM-HH:MM")))?;
        let (start, end) = (clock(s).map_err(err)?, clock(e).map_err(err)?);
        if start == end || start == DAY_MINUTES {
            return Err(err("the window is empty".into()));
        }
        Ok(Window {
            days: mask,
            start,
            end,
        })
    }

    /// Is the window open at minute `t` of the week?
    fn open_at(&self, t: u32) -> bool {
        (0..7).any(|d| {
            if self.days & (1 << d) == 0 {
                return false;
            }
            let from = d * DAY_MINUTES + self.start;
            let len = if self.end > self.start {
                self.end - self.start
            } else {
                DAY_MINUTES - self.start + self.end
            };
            // minutes since this day's opening, around the week
            (t + WEEK_MINUTES - from) % WEEK_MINUTES < len
        })
    }
}

/// The windows of a campaign (none: always open).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Windows(pub Vec<Window>);

impl Windows {
    pub fn parse(texts: &[String]) -> Result<Windows, String> {
        texts
            .iter()
            .map(|t| Window::parse(t))
            .collect::<Result<_, _>>()
            .map(Windows)
    }

    /// A window is open at `now` (no windows: always).
    pub fn open_at(&self, now: WeekTime) -> bool {
        self.minutes_until_open(now) == Some(0)
    }

    /// Minutes until a window is open at `now` (0: open now; none: no window ever opens,
    /// which `parse` does not allow).
    pub fn minutes_until_open(&self, now: WeekTime) -> Option<u32> {
        if self.0.is_empty() {
            return Some(0);
        }
        let t = now.of_week();
        (0..=WEEK_MINUTES).find(|m| {
            let at = (t + m) % WEEK_MINUTES;
            self.0.iter().any(|w| w.open_at(at))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(weekday: u32, hh: u32, mm: u32) -> WeekTime {
        WeekTime {
            weekday,
            minute: hh * 60 + mm,
        }
    }

    fn ws(t: &[&str]) -> Windows {
        Windows::parse(&t.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn weekday_nights() {
        let w = ws(&["Mon-Fri 02:00-05:00"]);
        assert_eq!(w.minutes_until_open(at(0, 2, 0)), Some(0));
        assert_eq!(w.minutes_until_open(at(4, 4, 59)), Some(0));
        assert_eq!(w.minutes_until_open(at(4, 5, 0)), Some(3 * 1440 - 180));
        assert_eq!(w.minutes_until_open(at(0, 1, 0)), Some(60));
        // Saturday 03:00: next Monday 02:00
        assert_eq!(w.minutes_until_open(at(5, 3, 0)), Some(2 * 1440 - 60));
    }

    #[test]
    fn wrapping_windows_belong_to_their_start_day() {
        let w = ws(&["Fri 22:00-02:00"]);
        assert_eq!(w.minutes_until_open(at(4, 23, 0)), Some(0));
        assert_eq!(w.minutes_until_open(at(5, 1, 59)), Some(0)); // Saturday morning
        assert_ne!(w.minutes_until_open(at(5, 2, 0)), Some(0));
        assert_ne!(w.minutes_until_open(at(0, 1, 0)), Some(0)); // Monday morning: not Sunday's
                                                                // Sunday night wraps into Monday across the week's end
        let w = ws(&["Sun 23:00-01:00"]);
        assert_eq!(w.minutes_until_open(at(0, 0, 30)), Some(0));
        let w = ws(&["Fri-Mon 00:00-24:00"]);
        assert_eq!(w.minutes_until_open(at(6, 12, 0)), Some(0));
        assert_eq!(w.minutes_until_open(at(1, 0, 0)), Some(3 * 1440));
    }

    #[test]
    fn several_windows_lists_and_daily() {
        let w = ws(&["Sat,Sun 00:00-24:00", "daily 03:00-04:00"]);
        assert_eq!(w.minutes_until_open(at(2, 3, 30)), Some(0));
        assert_eq!(w.minutes_until_open(at(2, 4, 0)), Some(23 * 60));
        assert_eq!(w.minutes_until_open(at(5, 12, 0)), Some(0));
        assert_eq!(Windows::default().minutes_until_open(at(2, 4, 0)), Some(0));
        assert_eq!(ws(&["Wednesday 03:00-04:00"]).0, ws(&["wed 03:00-04:00"]).0);
    }

    #[test]
    fn bad_windows_are_refused_with_the_text() {
        for bad in [
            "Mon-Fri",
            "Mon 2:00-05:00",
            "Mon 02:00-25:00",
            "Mon 02:00-02:00",
            "Mon 02:00-05:00 extra",
            "Moon 02:00-05:00",
            "Mon 02:60-05:00",
            "Mon 24:00-01:00",
            "Mo€day 02:00-05:00",
            "Moñday 02:00-05:00",
            "€ 02:00-05:00",
        ] {
            let e = Window::parse(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}
