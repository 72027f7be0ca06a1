//! Session settings (`SET`, `SHOW`, `RESET`, `set_config`): the run-time
//! parameters clients read and change, with PostgreSQL's names, defaults and
//! transaction rules: a change made in a block that rolls back is undone,
//! and `SET LOCAL` lasts until the block ends.

mod catalog;
pub(super) mod functions;
mod value;

use std::collections::BTreeMap;

use datafusion::arrow::array::timezone::Tz;

use super::error::{Error, Result};
use super::transaction::Notice;
use catalog::{Context, PARAMETERS, Parameter, Unit};

/// The known parameter named `name`, in any case.
fn parameter(name: &str) -> Option<&'static Parameter> {
    let lower = name.to_ascii_lowercase();
    PARAMETERS
        .binary_search_by(|p| p.display.to_ascii_lowercase().cmp(&lower))
        .ok()
        .map(|i| &PARAMETERS[i])
}

/// A name with a dot (`myapp.tenant`) is a custom parameter, which any
/// session may set to any text, as in PostgreSQL.
fn is_custom(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() > 1 && parts.iter().all(|p| !p.is_empty())
}

/// The values EpochDB honours, for the parameters whose value would change
/// an answer: any other value is refused with 0A000 rather than accepted
/// and ignored.
fn supported(name: &str, value: &str) -> bool {
    match name {
        "datestyle" => value == "ISO, MDY",
        "intervalstyle" => value == "postgres",
        "bytea_output" => value == "hex",
        "array_nulls" | "standard_conforming_strings" => value == "on",
        "transform_null_equals"
        | "quote_all_identifiers"
        | "default_transaction_read_only"
        | "transaction_read_only" => value == "off",
        "default_transaction_isolation" | "transaction_isolation" => value == "read committed",
        "lc_monetary" | "lc_numeric" | "lc_time" | "lc_messages" => {
            value == "C" || value == "POSIX"
        }
        "timezone_abbreviations" => value == "Default",
        // Floats print in their shortest exact form, as PostgreSQL does for
        // any value from 1 up.
        "extra_float_digits" => value.parse::<i32>().is_ok_and(|n| n >= 1),
        _ => true,
    }
}

/// `value` as parameter `p` stores it, checked.
fn validate(p: &Parameter, value: &str) -> Result<String> {
    let name = p.display.to_ascii_lowercase();
    let invalid = || Error::InvalidSettingValue {
        name: p.display.to_owned(),
        value: value.to_owned(),
        hint: None,
    };
    let normalized = match name.as_str() {
        "timezone" => {
            let tz = value.trim();
            if tz.eq_ignore_ascii_case("utc") || tz.eq_ignore_ascii_case("gmt") || tz == "Z" {
                "UTC".to_owned()
            } else if posix_offset(tz) {
                // PostgreSQL reads `+05:30` as a POSIX zone, hours west of
                // Greenwich (UTC-05:30), where Arrow reads it east.
                return Err(Error::UnsupportedSettingValue {
                    name: p.display.to_owned(),
                    value: tz.to_owned(),
                });
            } else if tz.parse::<Tz>().is_ok() {
                // Checked with the parser DataFusion renders time zones with.
                tz.to_owned()
            } else if let Some(zone) = chrono_tz::TZ_VARIANTS
                .iter()
                .find(|z| z.name().eq_ignore_ascii_case(tz))
            {
                // Zone names match in any case, and show as the database spells them.
                zone.name().to_owned()
            } else {
                return Err(invalid());
            }
        }
        "client_encoding" | "server_encoding" => {
            let upper = value.trim().to_ascii_uppercase().replace('-', "");
            if upper == "UTF8" || upper == "UNICODE" {
                "UTF8".to_owned()
            } else {
                return Err(invalid());
            }
        }
        "datestyle" => date_style(value).ok_or_else(invalid)?,
        // The only access method there is: EpochDB stores every table its own way.
        "default_table_access_method" if value.trim() != "heap" => return Err(invalid()),
        _ => value::normalize(p.display, p.kind, value)?,
    };
    if !supported(&name, &normalized) {
        return Err(Error::UnsupportedSettingValue {
            name: p.display.to_owned(),
            value: normalized,
        });
    }
    Ok(normalized)
}

/// Whether `tz` is an offset that PostgreSQL reads as a POSIX zone (signs
/// reversed) rather than as a number of hours: a sign and more than the
/// hours (`+05:30`, `-0530`). `-03` and `+5` are hours, read alike.
fn posix_offset(tz: &str) -> bool {
    let Some(rest) = tz.strip_prefix(['+', '-']) else {
        return false;
    };
    let digits = rest.bytes().all(|b| b.is_ascii_digit());
    !(digits && rest.len() <= 2) && rest.bytes().all(|b| b.is_ascii_digit() || b == b':')
}

/// A `DateStyle` value in PostgreSQL's normal form: the output style, then
/// the field order, each kept from the default when not given.
fn date_style(value: &str) -> Option<String> {
    let mut style = "ISO";
    let mut order = "MDY";
    for word in value.split(',').map(str::trim) {
        match word.to_ascii_lowercase().as_str() {
            "iso" => style = "ISO",
            "sql" => style = "SQL",
            "postgres" => style = "Postgres",
            "german" => style = "German",
            "mdy" | "us" | "noneuropean" => order = "MDY",
            "dmy" | "euro" | "european" => order = "DMY",
            "ymd" => order = "YMD",
            _ => return None,
        }
    }
    Some(format!("{style}, {order}"))
}

/// A time setting's value (as `SHOW` prints it) in milliseconds.
pub(super) fn parse_duration_millis(text: &str) -> Option<u64> {
    value::parse_int(text, Unit::Micros(1_000)).and_then(|ms| u64::try_from(ms).ok())
}

/// What a transaction block must restore: the values when it began, and the
/// value each `SET LOCAL` hides, which `COMMIT` brings back.
#[derive(Debug, Default, Clone)]
struct Frame {
    name: Option<String>,
    values: BTreeMap<String, String>,
    locals: BTreeMap<String, Option<String>>,
}

/// The current values of one session's parameters.
#[derive(Debug, Default, Clone)]
pub struct Settings {
    /// Values set in the session, by lower-case name.
    values: BTreeMap<String, String>,
    /// What `RESET` restores where it is not the built-in default: the
    /// values the client sent in its startup packet, and those the server
    /// decides for the session.
    session_defaults: BTreeMap<String, String>,
    /// Inside a transaction block: the frame of `BEGIN`, then one per
    /// savepoint.
    frames: Vec<Frame>,
    /// For each `SET LOCAL` of the block, the session-level value (`None`:
    /// the default) that `COMMIT` restores.
    locals: BTreeMap<String, Option<String>>,
    /// Reported parameters that changed, to send as ParameterStatus.
    reports: Vec<(&'static str, String)>,
    /// Whether any value changed since [`take_changed`](Self::take_changed).
    changed: bool,
}

impl Settings {
    /// The value of `name`, or its default.
    pub fn get(&self, name: &str) -> Result<String> {
        let key = name.to_ascii_lowercase();
        if let Some(value) = self.values.get(&key) {
            return Ok(value.clone());
        }
        match parameter(name) {
            Some(p) => Ok(self.default_of(p)),
            None => Err(Error::UnknownSetting {
                name: name.to_owned(),
            }),
        }
    }

    /// The column header and value of `SHOW name`.
    pub fn show(&self, name: &str) -> Result<(String, String)> {
        let value = self.get(name)?;
        let display = match parameter(name) {
            Some(p) => p.display.to_owned(),
            None => name.to_ascii_lowercase(),
        };
        Ok((display, value))
    }

    fn default_of(&self, p: &Parameter) -> String {
        self.session_defaults
            .get(&p.display.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| p.default.to_owned())
    }

    /// Makes the current values the ones `RESET` restores: called once the
    /// startup packet's parameters are applied.
    pub fn keep_as_defaults(&mut self) {
        self.session_defaults.append(&mut self.values);
        self.reports.clear();
    }

    /// Sets a read-only parameter the server decides for the session (its
    /// role's name and status), as its default.
    pub fn set_by_server(&mut self, name: &str, value: String) {
        self.session_defaults
            .insert(name.to_ascii_lowercase(), value);
    }

    /// Sets `name` for the session, or with `local` until the transaction
    /// block ends. Returns the value as stored, and a warning when `SET
    /// LOCAL` is used outside a block, where it does nothing.
    pub fn set(
        &mut self,
        name: &str,
        value: String,
        local: bool,
    ) -> Result<(String, Option<Notice>)> {
        let key = name.to_ascii_lowercase();
        let value = match parameter(name) {
            Some(p) => {
                self.check_may_set(p)?;
                validate(p, &value)?
            }
            None if is_custom(name) => value,
            None => {
                return Err(Error::UnknownSetting {
                    name: name.to_owned(),
                });
            }
        };
        if local && self.frames.is_empty() {
            // The placeholder of a custom parameter exists from now on.
            if parameter(name).is_none() {
                self.values.entry(key).or_default();
            }
            let notice = Notice {
                code: "25P01",
                message: "SET LOCAL can only be used in transaction blocks".to_owned(),
            };
            return Ok((value, Some(notice)));
        }
        self.remember_session_value(&key, local);
        self.assign(key, Some(value.clone()));
        Ok((value, None))
    }

    /// Fails unless the session may change `p`.
    fn check_may_set(&self, p: &Parameter) -> Result<()> {
        match p.context {
            Context::User => Ok(()),
            Context::Fixed => Err(Error::ReadOnlySetting {
                name: p.display.to_owned(),
            }),
            Context::Superuser if self.get("is_superuser").is_ok_and(|s| s == "on") => Ok(()),
            Context::Superuser => Err(Error::SettingPermission {
                name: p.display.to_owned(),
            }),
        }
    }

    /// Before a change in a block: a `SET LOCAL` records the session-level
    /// value to restore at `COMMIT` (once); a session-level change replaces
    /// any `SET LOCAL` of the same parameter.
    fn remember_session_value(&mut self, key: &str, local: bool) {
        if self.frames.is_empty() {
            return;
        }
        if local {
            if !self.locals.contains_key(key) {
                let current = self.values.get(key).cloned();
                self.locals.insert(key.to_owned(), current);
            }
        } else {
            self.locals.remove(key);
        }
    }

    /// Gives `key` a value (`None`: its default), noting a reported change.
    fn assign(&mut self, key: String, value: Option<String>) {
        let before = self.get(&key).ok();
        match value {
            Some(value) => {
                self.values.insert(key.clone(), value);
            }
            None => {
                self.values.remove(&key);
            }
        }
        let after = self.get(&key).ok();
        if before != after {
            self.changed = true;
            if let (Some(p), Some(after)) = (parameter(&key), after)
                && p.reported
            {
                self.reports.push((p.display, after));
            }
        }
    }

    /// Restores the default of `name`.
    pub fn reset(&mut self, name: &str) -> Result<()> {
        let key = name.to_ascii_lowercase();
        match parameter(name) {
            Some(p) => self.check_may_set(p)?,
            None if is_custom(name) => {}
            None => {
                return Err(Error::UnknownSetting {
                    name: name.to_owned(),
                });
            }
        }
        self.remember_session_value(&key, false);
        // A custom parameter, once set, keeps existing with an empty value.
        let value = parameter(name).is_none().then(String::new);
        self.assign(key, value);
        Ok(())
    }

    /// Restores every default.
    pub fn reset_all(&mut self) {
        let keys: Vec<String> = self.values.keys().cloned().collect();
        for key in keys {
            if parameter(&key).is_none_or(|p| p.context != Context::Fixed) {
                let _ = self.reset(&key);
            }
        }
    }

    /// Restores `values` wholesale, as a rollback does.
    fn restore(&mut self, values: BTreeMap<String, String>) {
        let keys: Vec<String> = self.values.keys().chain(values.keys()).cloned().collect();
        for key in keys {
            let value = values.get(&key).cloned();
            self.assign(key, value);
        }
    }

    /// A transaction block began.
    pub(super) fn begin(&mut self) {
        self.frames = vec![Frame {
            name: None,
            values: self.values.clone(),
            locals: BTreeMap::new(),
        }];
        self.locals.clear();
    }

    /// The block committed: session-level changes stay, `SET LOCAL`s end.
    pub(super) fn commit(&mut self) {
        self.frames.clear();
        for (key, value) in std::mem::take(&mut self.locals) {
            self.assign(key, value);
        }
    }

    /// The block rolled back: every change made in it is undone.
    pub(super) fn rollback(&mut self) {
        if let Some(first) = self.frames.first() {
            let values = first.values.clone();
            self.frames.clear();
            self.locals.clear();
            self.restore(values);
        }
    }

    pub(super) fn savepoint(&mut self, name: &str) {
        self.frames.push(Frame {
            name: Some(name.to_owned()),
            values: self.values.clone(),
            locals: self.locals.clone(),
        });
    }

    fn savepoint_index(&self, name: &str) -> Option<usize> {
        self.frames
            .iter()
            .rposition(|f| f.name.as_deref() == Some(name))
    }

    /// `ROLLBACK TO name`: the values the savepoint saw; it stays.
    pub(super) fn rollback_to(&mut self, name: &str) {
        if let Some(at) = self.savepoint_index(name) {
            self.frames.truncate(at + 1);
            let frame = self.frames[at].clone();
            self.locals = frame.locals;
            self.restore(frame.values);
        }
    }

    /// `RELEASE name`: the changes since stay with the enclosing level.
    pub(super) fn release(&mut self, name: &str) {
        if let Some(at) = self.savepoint_index(name) {
            self.frames.truncate(at);
        }
    }

    /// Reported parameters that changed, oldest first.
    pub(super) fn take_reports(&mut self) -> Vec<(&'static str, String)> {
        std::mem::take(&mut self.reports)
    }

    /// Whether any value changed since the last call.
    pub(super) fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &mut Settings, name: &str, value: &str) {
        assert!(s.set(name, value.to_owned(), false).is_ok(), "{name}");
    }

    #[test]
    fn parameters_are_sorted_for_lookup() {
        let names: Vec<String> = PARAMETERS
            .iter()
            .map(|p| p.display.to_ascii_lowercase())
            .collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]));
        assert!(parameter("WORK_MEM").is_some());
    }

    #[test]
    fn reset_restores_the_startup_value() {
        let mut s = Settings::default();
        set(&mut s, "application_name", "app");
        s.keep_as_defaults();
        set(&mut s, "application_name", "other");
        assert!(s.reset("application_name").is_ok());
        assert_eq!(
            s.take_reports(),
            vec![
                ("application_name", "other".to_owned()),
                ("application_name", "app".to_owned())
            ]
        );
        set(&mut s, "application_name", "other");
        s.reset_all();
        assert_eq!(s.get("application_name").ok().as_deref(), Some("app"));
    }

    #[test]
    fn set_show_reset_round_trip() {
        let mut s = Settings::default();
        assert_eq!(s.get("TimeZone").unwrap(), "UTC");
        set(&mut s, "timezone", "Europe/Berlin");
        assert_eq!(
            s.show("TIMEZONE").unwrap(),
            ("TimeZone".to_owned(), "Europe/Berlin".to_owned())
        );
        assert!(matches!(
            s.set("timezone", "Mars/Base".into(), false),
            Err(Error::InvalidSettingValue { .. })
        ));
        assert!(matches!(
            s.set("server_version", "16".into(), false),
            Err(Error::ReadOnlySetting { .. })
        ));
        assert!(matches!(
            s.get("no_such_thing"),
            Err(Error::UnknownSetting { .. })
        ));
        assert!(matches!(
            s.set("no_such_thing", "1".into(), false),
            Err(Error::UnknownSetting { .. })
        ));
        assert!(matches!(
            s.set("log_statement", "all".into(), false),
            Err(Error::SettingPermission { .. })
        ));
        assert!(matches!(
            s.set("DateStyle", "German".into(), false),
            Err(Error::UnsupportedSettingValue { .. })
        ));
        set(&mut s, "DateStyle", "iso");
        assert_eq!(s.get("datestyle").unwrap(), "ISO, MDY");
        set(&mut s, "statement_timeout", "5000");
        assert_eq!(s.get("statement_timeout").unwrap(), "5s");
        set(&mut s, "work_mem", "65536");
        assert_eq!(s.get("work_mem").unwrap(), "64MB");
        set(&mut s, "my.custom", "x");
        assert_eq!(
            s.show("My.Custom").unwrap(),
            ("my.custom".to_owned(), "x".to_owned())
        );
        assert!(s.get("my.other").is_err());
    }

    #[test]
    fn blocks_undo_or_keep_changes() {
        let mut s = Settings::default();
        set(&mut s, "work_mem", "8MB");
        s.begin();
        set(&mut s, "work_mem", "1MB");
        s.rollback();
        assert_eq!(s.get("work_mem").unwrap(), "8MB");

        s.begin();
        assert!(s.set("work_mem", "2MB".into(), true).is_ok());
        assert_eq!(s.get("work_mem").unwrap(), "2MB");
        s.commit();
        assert_eq!(s.get("work_mem").unwrap(), "8MB");

        let (_, notice) = s.set("work_mem", "3MB".into(), true).unwrap();
        assert!(notice.is_some());
        assert_eq!(s.get("work_mem").unwrap(), "8MB");

        s.begin();
        set(&mut s, "work_mem", "5MB");
        s.savepoint("a");
        set(&mut s, "work_mem", "6MB");
        s.rollback_to("a");
        assert_eq!(s.get("work_mem").unwrap(), "5MB");
        s.commit();
        assert_eq!(s.get("work_mem").unwrap(), "5MB");

        s.begin();
        assert!(s.set("work_mem", "7MB".into(), true).is_ok());
        set(&mut s, "work_mem", "9MB");
        s.commit();
        assert_eq!(s.get("work_mem").unwrap(), "9MB");

        s.begin();
        set(&mut s, "work_mem", "10MB");
        assert!(s.set("work_mem", "11MB".into(), true).is_ok());
        s.commit();
        assert_eq!(s.get("work_mem").unwrap(), "10MB");
    }
}
