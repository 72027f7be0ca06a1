//! The gap-filling functions as DataFusion sees them: `time_bucket_gapfill`,
//! `locf`, `interpolate`, `prev_observation()` and `next_observation()`, which
//! only a gap-filling plan evaluates, and the errors they raise.

use std::fmt;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::query::error::Error;
use crate::query::timeseries::time_bucket::TimeBucket;

pub(super) const GAPFILL: &str = "time_bucket_gapfill";
pub(super) const LOCF: &str = "locf";
pub(super) const INTERPOLATE: &str = "interpolate";

pub(super) fn unsupported(what: impl Into<String>) -> DataFusionError {
    DataFusionError::External(Box::new(Error::Unsupported { what: what.into() }))
}

pub(super) fn invalid(reason: impl fmt::Display) -> DataFusionError {
    DataFusionError::External(Box::new(Error::InvalidParameterValue {
        message: format!("invalid {GAPFILL} argument: {reason}"),
    }))
}

pub(super) fn missing(bound: &str) -> DataFusionError {
    DataFusionError::External(Box::new(Error::InvalidParameterValue {
        message: format!("missing {GAPFILL} argument: could not infer {bound} from WHERE clause"),
    }))
}

/// `time_bucket_gapfill`, which only the planner evaluates (as `time_bucket`
/// plus a [`GapFill`](super::node::GapFill) node).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimeBucketGapfill {
    pub(super) signature: Signature,
}

impl TimeBucketGapfill {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// Whether `args`, coerced, are the time zone form: `(width, ts timestamptz,
/// timezone [, start [, finish]])`.
pub(super) fn is_zoned_form(args: &[DataType]) -> bool {
    matches!(args.get(1), Some(DataType::Timestamp(_, Some(_))))
        && match args.get(2) {
            Some(DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8) => true,
            // Named arguments put NULL in the time zone's place.
            Some(DataType::Null) => args.len() == 5,
            _ => false,
        }
}

impl ScalarUDFImpl for TimeBucketGapfill {
    fn name(&self) -> &str {
        GAPFILL
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=5).contains(&args.len()) {
            return Err(Error::UndefinedFunction {
                message: format!("{GAPFILL} takes 2 to 5 arguments, not {}", args.len()),
            }
            .into());
        }
        let zoned = is_zoned_form(args);
        let bucket_args = if zoned { 3 } else { 2 };
        let mut coerced = TimeBucket::new().coerce_types(&args[..bucket_args])?;
        if zoned {
            coerced[2] = DataType::Utf8;
        }
        if args.len() > bucket_args + 2 {
            return Err(Error::UndefinedFunction {
                message: format!("{GAPFILL} takes a start and a finish after the time zone"),
            }
            .into());
        }
        let ts = coerced[1].clone();
        coerced.extend(std::iter::repeat_n(ts, args.len() - bucket_args));
        Ok(coerced)
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[1].clone())
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(unsupported(format!(
            "{GAPFILL} outside the GROUP BY of an aggregate query"
        )))
    }
}

/// `prev_observation()` and `next_observation()`, which stand for the last
/// row before and the first row after the window as `locf`'s and
/// `interpolate`'s `prev` and `next`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Observation {
    pub(super) name: &'static str,
    pub(super) signature: Signature,
}

pub(super) const PREV_OBSERVATION: &str = "prev_observation";
pub(super) const NEXT_OBSERVATION: &str = "next_observation";

impl Observation {
    pub(crate) fn prev() -> Self {
        Self {
            name: PREV_OBSERVATION,
            signature: Signature::exact(vec![], Volatility::Stable),
        }
    }

    pub(crate) fn next() -> Self {
        Self {
            name: NEXT_OBSERVATION,
            signature: Signature::exact(vec![], Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for Observation {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Null)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(unsupported(format!(
            "{}() other than as the prev or next argument of locf or interpolate",
            self.name
        )))
    }
}

/// Which of the two filling functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub(super) enum FillKind {
    Locf,
    Interpolate,
}

impl FillKind {
    pub(super) fn name(self) -> &'static str {
        match self {
            FillKind::Locf => LOCF,
            FillKind::Interpolate => INTERPOLATE,
        }
    }
}

/// `locf` and `interpolate`, which only a gap-filling query evaluates.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct FillFunction {
    pub(super) kind: FillKind,
    pub(super) signature: Signature,
}

impl FillFunction {
    pub(crate) fn locf() -> Self {
        Self {
            kind: FillKind::Locf,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    pub(crate) fn interpolate() -> Self {
        Self {
            kind: FillKind::Interpolate,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for FillFunction {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.kind.name();
        if !(1..=3).contains(&args.len()) {
            return Err(Error::UndefinedFunction {
                message: format!("{name} takes 1 to 3 arguments, not {}", args.len()),
            }
            .into());
        }
        let value = args[0].clone();
        match self.kind {
            FillKind::Locf => {
                let mut coerced = vec![value.clone()];
                if args.len() > 1 {
                    coerced.push(value);
                }
                if let Some(flag) = args.get(2) {
                    if !matches!(flag, DataType::Boolean | DataType::Null) {
                        return Err(Error::UndefinedFunction {
                            message: "locf's treat_null_as_missing must be a boolean".to_string(),
                        }
                        .into());
                    }
                    coerced.push(DataType::Boolean);
                }
                Ok(coerced)
            }
            FillKind::Interpolate => {
                if !(value.is_numeric() || value == DataType::Null) {
                    return Err(Error::UndefinedFunction {
                        message: format!("interpolate needs a number, not {value}"),
                    }
                    .into());
                }
                for record in &args[1..] {
                    match record {
                        DataType::Null => {}
                        DataType::Struct(fields) if fields.len() == 2 => {}
                        other => {
                            return Err(Error::UndefinedFunction {
                                message: format!(
                                    "interpolate's prev and next must be (time, value) records, \
                                 not {other}"
                                ),
                            }
                            .into());
                        }
                    }
                }
                Ok(args.to_vec())
            }
        }
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(unsupported(format!(
            "{} outside an aggregate query grouped by {GAPFILL}",
            self.kind.name()
        )))
    }
}
