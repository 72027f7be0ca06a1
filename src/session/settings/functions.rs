//! `current_setting()` and `set_config()`: one session's settings, read and
//! changed from SQL.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use parking_lot::Mutex;

use super::Settings;
use crate::session::error::Error;

/// The two functions, bound to the settings of the session that owns
/// `settings`.
pub(in crate::session) fn udfs(settings: &Arc<Mutex<Settings>>) -> [ScalarUDF; 2] {
    let function = |which, signature| {
        ScalarUDF::new_from_impl(SettingsFunction {
            which,
            settings: settings.clone(),
            signature,
        })
    };
    [
        function(
            Which::CurrentSetting,
            Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8]),
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
                ],
                Volatility::Stable,
            ),
        ),
        function(
            Which::SetConfig,
            Signature::exact(
                vec![DataType::Utf8, DataType::Utf8, DataType::Boolean],
                Volatility::Volatile,
            ),
        ),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Which {
    /// `current_setting(name [, missing_ok])`: a setting's current value.
    CurrentSetting,
    /// `set_config(name, value, is_local)`: sets a parameter as `SET` (or
    /// `SET LOCAL`) does and returns its new value; a NULL value restores
    /// the default.
    SetConfig,
}

#[derive(Debug)]
struct SettingsFunction {
    which: Which,
    settings: Arc<Mutex<Settings>>,
    signature: Signature,
}

// One instance per session; two are the same function only if they use the
// same session's settings.
impl PartialEq for SettingsFunction {
    fn eq(&self, other: &Self) -> bool {
        self.which == other.which && Arc::ptr_eq(&self.settings, &other.settings)
    }
}

impl Eq for SettingsFunction {}

impl std::hash::Hash for SettingsFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.which.hash(state);
        Arc::as_ptr(&self.settings).hash(state);
    }
}

fn external(error: Error) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

impl ScalarUDFImpl for SettingsFunction {
    fn name(&self) -> &str {
        match self.which {
            Which::CurrentSetting => "current_setting",
            Which::SetConfig => "set_config",
        }
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
        let flags = arrays
            .last()
            .filter(|_| arrays.len() > 1)
            .map(|a| a.as_boolean());
        let flag = |row: usize| flags.is_some_and(|f| f.is_valid(row) && f.value(row));
        let mut settings = self.settings.lock();
        let mut out = StringBuilder::new();
        for row in 0..args.number_rows {
            match self.which {
                Which::CurrentSetting if names.is_null(row) => out.append_null(),
                Which::CurrentSetting => match settings.get(names.value(row)) {
                    Ok(value) => out.append_value(value),
                    // `missing_ok`: NULL for an unknown name.
                    Err(_) if flag(row) => out.append_null(),
                    Err(e) => return Err(external(e)),
                },
                Which::SetConfig => {
                    if names.is_null(row) {
                        return Err(external(Error::SettingNameMissing));
                    }
                    let name = names.value(row);
                    let values = arrays[1].as_string::<i32>();
                    if values.is_null(row) {
                        settings.reset(name).map_err(external)?;
                        out.append_value(settings.get(name).map_err(external)?);
                    } else {
                        let (value, _) = settings
                            .set(name, values.value(row).to_owned(), flag(row))
                            .map_err(external)?;
                        out.append_value(value);
                    }
                }
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
