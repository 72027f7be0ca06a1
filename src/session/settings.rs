//! Session settings (`SET`, `SHOW`, `RESET`): the run-time parameters clients read
//! and change, with PostgreSQL's names and defaults.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use parking_lot::Mutex;

use super::error::{Error, Result};

/// A parameter clients may read and set, with its default.
struct Parameter {
    /// Lower-case name; PostgreSQL's names are case-insensitive.
    name: &'static str,
    /// How `SHOW` spells it in the column header.
    display: &'static str,
    default: &'static str,
    /// Whether a change is reported to the client with ParameterStatus.
    reported: bool,
}

const PARAMETERS: &[Parameter] = &[
    Parameter {
        name: "application_name",
        display: "application_name",
        default: "",
        reported: true,
    },
    Parameter {
        name: "client_encoding",
        display: "client_encoding",
        default: "UTF8",
        reported: true,
    },
    Parameter {
        name: "datestyle",
        display: "DateStyle",
        default: "ISO, MDY",
        reported: true,
    },
    Parameter {
        name: "extra_float_digits",
        display: "extra_float_digits",
        default: "1",
        reported: false,
    },
    Parameter {
        name: "integer_datetimes",
        display: "integer_datetimes",
        default: "on",
        reported: true,
    },
    // Read by SQLAlchemy's inspector to tell a table's access method from
    // the default.
    Parameter {
        name: "default_table_access_method",
        display: "default_table_access_method",
        default: "heap",
        reported: false,
    },
    Parameter {
        name: "intervalstyle",
        display: "IntervalStyle",
        default: "postgres",
        reported: true,
    },
    // How CREATE/ALTER ROLE ... PASSWORD stores a password.
    Parameter {
        name: "password_encryption",
        display: "password_encryption",
        default: "scram-sha-256",
        reported: false,
    },
    Parameter {
        name: "search_path",
        display: "search_path",
        default: "\"$user\", public",
        reported: false,
    },
    Parameter {
        name: "server_encoding",
        display: "server_encoding",
        default: "UTF8",
        reported: true,
    },
    Parameter {
        name: "server_version",
        display: "server_version",
        default: crate::query::POSTGRES_VERSION,
        reported: true,
    },
    // Grafana reads it to pick its query dialect.
    Parameter {
        name: "server_version_num",
        display: "server_version_num",
        default: crate::query::POSTGRES_VERSION_NUM,
        reported: false,
    },
    Parameter {
        name: "standard_conforming_strings",
        display: "standard_conforming_strings",
        default: "on",
        reported: true,
    },
    Parameter {
        name: "statement_timeout",
        display: "statement_timeout",
        default: "0",
        reported: false,
    },
    Parameter {
        name: "timezone",
        display: "TimeZone",
        default: "UTC",
        reported: true,
    },
    // Set by the server from the session's role.
    Parameter {
        name: "is_superuser",
        display: "is_superuser",
        default: "off",
        reported: true,
    },
    Parameter {
        name: "session_authorization",
        display: "session_authorization",
        default: "",
        reported: true,
    },
    Parameter {
        name: "transaction_isolation",
        display: "transaction_isolation",
        default: "read committed",
        reported: false,
    },
];

/// Parameters that only the server sets.
const READ_ONLY: &[&str] = &[
    "integer_datetimes",
    "is_superuser",
    "session_authorization",
    "server_encoding",
    "server_version",
    "server_version_num",
];

fn parameter(name: &str) -> Result<&'static Parameter> {
    let lower = name.to_ascii_lowercase();
    PARAMETERS
        .iter()
        .find(|p| p.name == lower)
        .ok_or_else(|| Error::UnknownSetting {
            name: name.to_owned(),
        })
}

/// The current values of one session's parameters.
#[derive(Debug, Default, Clone)]
pub struct Settings {
    values: BTreeMap<&'static str, String>,
    /// What `RESET` restores where it is not the built-in default: the
    /// values the client sent in its startup packet.
    session_defaults: BTreeMap<&'static str, String>,
}

impl Settings {
    /// The value of `name`, or its default.
    pub fn get(&self, name: &str) -> Result<String> {
        let p = parameter(name)?;
        Ok(self
            .values
            .get(p.name)
            .cloned()
            .unwrap_or_else(|| self.default_of(p)))
    }

    fn default_of(&self, p: &Parameter) -> String {
        self.session_defaults
            .get(p.name)
            .cloned()
            .unwrap_or_else(|| p.default.to_owned())
    }

    /// Makes the current values the ones `RESET` restores: called once the
    /// startup packet's parameters are applied.
    pub fn keep_as_defaults(&mut self) {
        self.session_defaults.append(&mut self.values);
    }

    /// Sets a read-only parameter the server decides for the session (its
    /// role's name and status), as its default.
    pub fn set_by_server(&mut self, name: &'static str, value: String) {
        self.session_defaults.insert(name, value);
    }

    /// The header `SHOW name` uses.
    pub fn display_name(name: &str) -> Result<&'static str> {
        Ok(parameter(name)?.display)
    }

    /// Sets `name`. Returns the (display name, value) to report to the client, if
    /// the parameter is one PostgreSQL reports.
    pub fn set(&mut self, name: &str, value: String) -> Result<Option<(&'static str, String)>> {
        let p = parameter(name)?;
        if READ_ONLY.contains(&p.name) {
            return Err(Error::ReadOnlySetting {
                name: p.name.to_owned(),
            });
        }
        let value = validate(p.name, value)?;
        self.values.insert(p.name, value.clone());
        Ok(p.reported.then_some((p.display, value)))
    }

    /// Restores the default of `name`.
    pub fn reset(&mut self, name: &str) -> Result<Option<(&'static str, String)>> {
        let p = parameter(name)?;
        self.values.remove(p.name);
        Ok(p.reported.then(|| (p.display, self.default_of(p))))
    }

    /// Restores every default; returns the reported parameters that changed.
    pub fn reset_all(&mut self) -> Vec<(&'static str, String)> {
        let changed = std::mem::take(&mut self.values);
        PARAMETERS
            .iter()
            .filter(|p| p.reported && changed.contains_key(p.name))
            .map(|p| (p.display, self.default_of(p)))
            .collect()
    }
}

fn validate(name: &str, value: String) -> Result<String> {
    let invalid = |value: &str| Error::InvalidSettingValue {
        name: name.to_owned(),
        value: value.to_owned(),
    };
    match name {
        "timezone" => {
            let tz = value.trim();
            if tz.eq_ignore_ascii_case("utc") || tz.eq_ignore_ascii_case("gmt") || tz == "Z" {
                return Ok("UTC".to_owned());
            }
            // Checked with the parser DataFusion renders time zones with.
            match tz.parse::<Tz>() {
                Ok(_) => Ok(tz.to_owned()),
                Err(_) => Err(invalid(tz)),
            }
        }
        "client_encoding" | "server_encoding" => {
            let upper = value.trim().to_ascii_uppercase().replace('-', "");
            if upper == "UTF8" || upper == "UNICODE" {
                Ok("UTF8".to_owned())
            } else {
                Err(invalid(&value))
            }
        }
        "password_encryption" => match value.trim().to_ascii_lowercase().as_str() {
            "scram-sha-256" => Ok("scram-sha-256".to_owned()),
            "md5" => Ok("md5".to_owned()),
            _ => Err(invalid(&value)),
        },
        // EpochDB stores every table its own way; "heap" is the only name.
        "default_table_access_method" if value.trim() == "heap" => Ok("heap".to_owned()),
        "default_table_access_method" => Err(invalid(&value)),
        "extra_float_digits" => match value.trim().parse::<i32>() {
            Ok(n) if (-15..=3).contains(&n) => Ok(n.to_string()),
            _ => Err(invalid(&value)),
        },
        "statement_timeout" => {
            let millis = parse_duration_millis(&value).ok_or_else(|| invalid(&value))?;
            Ok(format_duration_millis(millis))
        }
        "standard_conforming_strings" => match value.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "1" | "yes" => Ok("on".to_owned()),
            _ => Err(invalid(&value)),
        },
        _ => Ok(value),
    }
}

/// A PostgreSQL time setting in milliseconds: a bare number is milliseconds;
/// `us`, `ms`, `s`, `min`, `h` and `d` suffixes are accepted.
pub(super) fn parse_duration_millis(text: &str) -> Option<u64> {
    let text = text.trim().trim_matches('\'').trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor_micros: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" => 1_000,
        "us" => 1,
        "s" => 1_000_000,
        "min" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => return None,
    };
    let micros = number.checked_mul(factor_micros)?;
    // PostgreSQL rounds sub-millisecond values up to 1 ms, except 0.
    Some(micros.div_ceil(1_000))
}

/// How PostgreSQL shows a time setting: in the largest exact unit.
fn format_duration_millis(millis: u64) -> String {
    match millis {
        0 => "0".to_owned(),
        m if m % 86_400_000 == 0 => format!("{}d", m / 86_400_000),
        m if m % 3_600_000 == 0 => format!("{}h", m / 3_600_000),
        m if m % 60_000 == 0 => format!("{}min", m / 60_000),
        m if m % 1_000 == 0 => format!("{}s", m / 1_000),
        m => format!("{m}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_restores_the_startup_value() {
        let mut s = Settings::default();
        assert!(s.set("application_name", "app".into()).is_ok());
        s.keep_as_defaults();
        assert!(s.set("application_name", "other".into()).is_ok());
        assert_eq!(
            s.reset("application_name").ok().flatten(),
            Some(("application_name", "app".to_owned()))
        );
        assert!(s.set("application_name", "other".into()).is_ok());
        assert_eq!(s.reset_all(), vec![("application_name", "app".to_owned())]);
        assert_eq!(s.get("application_name").ok().as_deref(), Some("app"));
    }

    #[test]
    fn set_show_reset_round_trip() {
        let mut s = Settings::default();
        assert_eq!(s.get("TimeZone").unwrap(), "UTC");
        assert_eq!(
            s.set("timezone", "Europe/Berlin".into()).unwrap(),
            Some(("TimeZone", "Europe/Berlin".to_owned()))
        );
        assert_eq!(s.get("TIMEZONE").unwrap(), "Europe/Berlin");
        assert!(matches!(
            s.set("timezone", "Mars/Base".into()),
            Err(Error::InvalidSettingValue { .. })
        ));
        assert!(matches!(
            s.set("server_version", "16".into()),
            Err(Error::ReadOnlySetting { .. })
        ));
        assert!(matches!(
            s.get("no_such_thing"),
            Err(Error::UnknownSetting { .. })
        ));
        assert_eq!(s.reset_all(), vec![("TimeZone", "UTC".to_owned())]);
        s.set("statement_timeout", "5000".into()).unwrap();
        assert_eq!(s.get("statement_timeout").unwrap(), "5s");
        s.set("statement_timeout", "90s".into()).unwrap();
        assert_eq!(s.get("statement_timeout").unwrap(), "90s");
        s.set("statement_timeout", "2min".into()).unwrap();
        assert_eq!(
            parse_duration_millis(&s.get("statement_timeout").unwrap()),
            Some(120_000)
        );
        assert!(s.set("statement_timeout", "soon".into()).is_err());
    }
}

/// `current_setting(name [, missing_ok])`: a setting's current value in the
/// session that owns `settings`.
pub(super) fn current_setting_udf(settings: Arc<Mutex<Settings>>) -> ScalarUDF {
    ScalarUDF::new_from_impl(CurrentSetting {
        settings,
        signature: Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
            ],
            Volatility::Stable,
        ),
    })
}

#[derive(Debug)]
struct CurrentSetting {
    settings: Arc<Mutex<Settings>>,
    signature: Signature,
}

// One instance per session; two are the same function only if they read the
// same session's settings.
impl PartialEq for CurrentSetting {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.settings, &other.settings)
    }
}

impl Eq for CurrentSetting {}

impl std::hash::Hash for CurrentSetting {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.settings).hash(state);
    }
}

impl ScalarUDFImpl for CurrentSetting {
    fn name(&self) -> &str {
        "current_setting"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let names = arrays[0].as_string::<i32>();
        let missing_ok = arrays.get(1).map(|a| a.as_boolean());
        let settings = self.settings.lock();
        let mut out = StringBuilder::new();
        for row in 0..args.number_rows {
            if names.is_null(row) {
                out.append_null();
                continue;
            }
            match settings.get(names.value(row)) {
                Ok(value) => out.append_value(value),
                Err(_) if missing_ok.is_some_and(|m| m.is_valid(row) && m.value(row)) => {
                    out.append_null()
                }
                Err(_) => {
                    return Err(datafusion::error::DataFusionError::External(Box::new(
                        Error::UnknownSetting {
                            name: names.value(row).to_owned(),
                        },
                    )));
                }
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
