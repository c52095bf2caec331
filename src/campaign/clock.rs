//! The time zone of reboot windows and the wall clock read in it (I/O: the system's time zone
//! database, through jiff). `UTC`, `local` (the controller's zone), an IANA name
//! (`Europe/Paris`, from /usr/share/zoneinfo) or a fixed offset (`+02:00`).

use super::window::{WeekTime, Windows};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

#[derive(Debug, Clone)]
pub struct Zone(TimeZone);

/// `local` as the IANA name of this machine's zone, so that the journal holds the zone the
/// campaign was planned in, not whatever machine resumes it; an error when this
/// machine's zone has no name (no `/etc/localtime`, `TZ` unset: jiff would fall back to UTC
/// silently). Other names are returned as given.
pub fn resolve_local(name: &str) -> Result<String, String> {
    if name != "local" {
        return Ok(name.to_string());
    }
    let tz = TimeZone::try_system().map_err(|e| {
        format!("time zone \"local\": this machine's time zone cannot be read ({e}): name it, e.g. --timezone Europe/Paris")
    })?;
    tz.iana_name().map(str::to_string).ok_or_else(|| {
        "time zone \"local\": this machine's time zone has no IANA name: name it, e.g. --timezone Europe/Paris".into()
    })
}

impl Zone {
    pub fn parse(name: &str) -> Result<Zone, String> {
        let bad = |e: String| format!("time zone {name:?}: {e}");
        let tz = match name {
            "" | "UTC" | "utc" => TimeZone::UTC,
            "local" => TimeZone::system(),
            n if n.starts_with(['+', '-']) => {
                let (sign, rest) = n.split_at(1);
                let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
                let (h, m): (i32, i32) = match (h.parse(), m.parse()) {
                    (Ok(h), Ok(m)) if h <= 14 && m < 60 => (h, m),
                    _ => return Err(bad("expected an offset like +02:00".into())),
                };
                let secs = (h * 3600 + m * 60) * if sign == "-" { -1 } else { 1 };
                TimeZone::fixed(
                    jiff::tz::Offset::from_seconds(secs).map_err(|e| bad(e.to_string()))?,
                )
            }
            n => TimeZone::get(n).map_err(|e| bad(e.to_string()))?,
        };
        Ok(Zone(tz))
    }

    /// Now, as a weekday and minute of the day in this zone.
    pub fn now(&self) -> WeekTime {
        week_time(&Timestamp::now().to_zoned(self.0.clone()))
    }

    /// The clock changes of this zone (daylight saving) in the `days` after `from` that fall
    /// inside one of `windows`, each said in words: that day the window opens for
    /// an hour less (the clock jumps forward over it) or an hour more (it goes back and runs
    /// the same wall-clock hour twice). Windows are wall-clock times; the engine still starts
    /// hosts only while one is open.
    pub fn changes_in(&self, windows: &Windows, from: Timestamp, days: i64) -> Vec<String> {
        let end = from
            .checked_add(jiff::SignedDuration::from_hours(24 * days))
            .unwrap_or(from);
        let mut out = Vec::new();
        for t in self.0.following(from).take(16) {
            let at = t.timestamp();
            if at > end {
                break;
            }
            let Ok(just_before) = at.checked_sub(jiff::SignedDuration::from_secs(1)) else {
                continue;
            };
            let (b, a) = (
                just_before.to_zoned(self.0.clone()),
                at.to_zoned(self.0.clone()),
            );
            if !windows.0.is_empty()
                && (windows.open_at(week_time(&b)) || windows.open_at(week_time(&a)))
            {
                let shift = a.offset().seconds() - b.offset().seconds();
                let how = if shift > 0 {
                    "forward: that day a reboot window open then is shorter in real time"
                } else {
                    "back: that day a reboot window open then is longer in real time, and its hour runs twice"
                };
                out.push(format!(
                    "{} {}: the clock of {} goes from {} to {}, inside a reboot window ({how})",
                    a.strftime("%a %Y-%m-%d"),
                    b.strftime("%H:%M:%S"),
                    self.0.iana_name().unwrap_or("the campaign's zone"),
                    b.strftime("%H:%M:%S %:z"),
                    a.strftime("%H:%M:%S %:z"),
                ));
            }
        }
        out
    }
}

fn week_time(z: &Zoned) -> WeekTime {
    WeekTime {
        weekday: z.weekday().to_monday_zero_offset() as u32,
        minute: z.hour() as u32 * 60 + z.minute() as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daylight_saving_change_inside_a_window_is_said_with_its_day() {
        // in Europe/Paris 02:00-03:00 does not exist on the last Sunday of March;
        // a window over it opened for less than planned without a word
        let z = Zone::parse("Europe/Paris").unwrap();
        let from: Timestamp = "2027-03-20T00:00:00Z".parse().unwrap();
        let w = |t: &[&str]| {
            Windows::parse(&t.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
        };
        let said = z.changes_in(&w(&["Sun 01:00-04:00"]), from, 14);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].starts_with("Sun 2027-03-28"), "{said:?}");
        assert!(
            said[0].contains("goes from 01:59:59 +01:00 to 03:00:00 +02:00"),
            "{said:?}"
        );
        assert!(said[0].contains("forward"), "{said:?}");
        // outside the windows, beyond the days asked, or in UTC: nothing to say
        assert!(z.changes_in(&w(&["Sat 01:00-04:00"]), from, 14).is_empty());
        assert!(z.changes_in(&w(&["Sun 01:00-04:00"]), from, 5).is_empty());
        assert!(Zone::parse("UTC")
            .unwrap()
            .changes_in(&w(&["daily 00:00-24:00"]), from, 14)
            .is_empty());
        // autumn: back an hour, the window's hour runs twice
        let from: Timestamp = "2027-10-25T00:00:00Z".parse().unwrap();
        let said = z.changes_in(&w(&["daily 02:00-03:00"]), from, 14);
        assert!(said.len() == 1 && said[0].contains("back"), "{said:?}");
    }

    #[test]
    fn zones() {
        for ok in [
            "UTC",
            "local",
            "+02:00",
            "-05:30",
            "Europe/Paris",
            "America/New_York",
        ] {
            let z = Zone::parse(ok).unwrap_or_else(|e| panic!("{e}"));
            let t = z.now();
            assert!(t.weekday < 7 && t.minute < 1440);
        }
        for bad in ["Mars/Olympus", "+25:00", "+2x"] {
            assert!(Zone::parse(bad).unwrap_err().contains(bad));
        }
        // `local` becomes this machine's zone's name (or an error), never stays `local`
        if let Ok(n) = resolve_local("local") {
            assert_ne!(n, "local");
            assert!(Zone::parse(&n).is_ok(), "{n}");
        }
        assert_eq!(resolve_local("Europe/Paris").unwrap(), "Europe/Paris");
        // a fixed offset moves the clock by that much
        let (u, p) = (
            Zone::parse("UTC").unwrap().now(),
            Zone::parse("+01:00").unwrap().now(),
        );
        let week = |t: WeekTime| t.weekday * 1440 + t.minute;
        assert!(matches!((week(p) + 10080 - week(u)) % 10080, 59..=61));
    }
}
