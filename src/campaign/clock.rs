//! The time zone of reboot windows and the wall clock read in it (I/O: the system's time zone
//! database, through jiff). `UTC`, `local` (the controller's zone), an IANA name
//! (`Europe/Paris`, from /usr/share/zoneinfo) or a fixed offset (`+02:00`).

use super::window::WeekTime;
use jiff::tz::TimeZone;

#[derive(Debug, Clone)]
pub struct Zone(TimeZone);

/// `local` as the IANA name of this machine's zone, so that the journal holds the zone the
/// campaign was planned in, not whatever machine resumes it (review R16); an error when this
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
        let z = jiff::Timestamp::now().to_zoned(self.0.clone());
        WeekTime {
            weekday: z.weekday().to_monday_zero_offset() as u32,
            minute: z.hour() as u32 * 60 + z.minute() as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
