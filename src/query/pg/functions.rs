//! SQL functions beyond DataFusion's own: the PostgreSQL catalog functions from
//! datafusion-pg-catalog and PostgreSQL-compatible overrides.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, Int32Builder, Int64Array, ListArray,
    ListBuilder, StringArray, StringBuilder, StructArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{ArrowNativeType, DataType, Field, Fields};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::functions_nested::expr_fn::array_element;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawFieldAccessExpr};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, GetFieldAccess, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, TypeSignature, Volatility, create_udf, lit,
};
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::{
    self as pg, PgCatalogStaticTables, array_bounds_udf, format_type, has_privilege_udf,
    quote_ident_udf,
};

use crate::query::error::Error;

/// The PostgreSQL release whose behaviour EpochDB follows.
pub const POSTGRES_VERSION: &str = "15.0";

/// The same release as PostgreSQL's `server_version_num` spells it.
pub const POSTGRES_VERSION_NUM: &str = "150000";

/// What `version()` returns. Clients such as SQLAlchemy parse the leading
/// "PostgreSQL X.Y".
pub fn version_string() -> String {
    format!(
        "PostgreSQL {POSTGRES_VERSION} on {}-{}, compiled by rustc (EpochDB {})",
        std::env::consts::ARCH,
        std::env::consts::OS,
        env!("CARGO_PKG_VERSION")
    )
}

/// Registers the database-independent functions on the base context.
pub(crate) fn register(ctx: &SessionContext, static_tables: &PgCatalogStaticTables) {
    for name in [
        "has_table_privilege",
        "has_schema_privilege",
        "has_database_privilege",
        "has_any_column_privilege",
    ] {
        ctx.register_udf(has_privilege_udf::create_has_privilege_udf(name));
    }
    for udf in [
        pg::create_current_schema_udf(),
        pg::create_current_schemas_udf(),
        pg::create_pg_get_userbyid_udf(),
        pg::create_pg_table_is_visible(),
        format_type::create_format_type_udf(),
        pg::create_session_user_udf(),
        super::keys_catalog::ExpressionText::udf(),
        pg::create_pg_get_partkeydef_udf(),
        pg::create_pg_relation_is_publishable_udf(),
        pg::create_pg_get_statisticsobjdef_columns_udf(),
        pg::create_pg_encoding_to_char_udf(),
        pg::create_pg_backend_pid_udf(),
        pg::create_pg_relation_size_udf(),
        pg::create_pg_total_relation_size_udf(),
        pg::create_pg_stat_get_numscans(),
        pg::create_pg_get_constraintdef(),
        pg::create_pg_get_partition_ancestors_udf(),
        quote_ident_udf::create_parse_ident_udf(),
        array_bounds_udf::create_array_upper_udf(),
        array_bounds_udf::create_array_lower_udf(),
    ] {
        ctx.register_udf(udf);
    }
    ctx.register_udtf("pg_get_keywords", static_tables.pg_get_keywords.clone());
    for udf in super::type_of::udfs() {
        ctx.register_udf(udf);
    }
    ctx.register_udf(ScalarUDF::new_from_impl(super::numeric::NumericCast::new()));
    ctx.register_udf(super::array_in::array_of());
    for udf in super::interval_scale::udfs() {
        ctx.register_udf(udf);
    }
    for udf in super::justify::udfs() {
        ctx.register_udf(udf);
    }
    for udf in super::json::udfs() {
        ctx.register_udf(udf);
    }
    for udf in super::json_agg::udfs() {
        ctx.register_udf(udf);
    }
    for udf in super::quoting::udfs() {
        ctx.register_udf(udf);
    }
    // PostgreSQL's names for DataFusion's functions.
    ctx.register_udf(
        datafusion::functions::math::signum()
            .as_ref()
            .clone()
            .with_aliases(["sign"]),
    );
    ctx.register_udaf(
        datafusion::functions_aggregate::bool_and_or::bool_and_udaf()
            .as_ref()
            .clone()
            .with_aliases(["every"]),
    );
    ctx.register_udaf(
        datafusion::functions_aggregate::variance::var_samp_udaf()
            .as_ref()
            .clone()
            .with_aliases(["variance"]),
    );

    let version = ScalarValue::Utf8(Some(version_string()));
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(version.clone()))),
    ));

    // PostgreSQL's order of floats in the grouped extremes.
    ctx.register_udaf(super::min_max::PgMinMax::max());
    ctx.register_udaf(super::min_max::PgMinMax::min());
    ctx.register_udf(create_udf(
        "like_escape",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(like_escape_udf),
    ));
    // Every collation and function is in pg_catalog (there is no CREATE
    // COLLATION or CREATE FUNCTION), which is always on the search path.
    for name in ["pg_collation_is_visible", "pg_function_is_visible"] {
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Int64],
            DataType::Boolean,
            Volatility::Stable,
            Arc::new(|args| {
                let oids = ColumnarValue::values_to_arrays(args)?;
                let visible: BooleanArray = (0..oids[0].len())
                    .map(|i| oids[0].is_valid(i).then_some(true))
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(visible)))
            }),
        ));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(FormatTypeList::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(super::to_char::ToChar::new()));
    ctx.register_udf(
        ScalarUDF::new_from_impl(super::zone_tags::UtcNow::new())
            .with_aliases(["statement_timestamp", "transaction_timestamp"]),
    );
    for udf in super::clock::udfs() {
        ctx.register_udf(udf);
    }
    ctx.register_udf(super::make_interval::udf());
    ctx.register_udf(super::width_bucket::udf());
    for udf in super::make_time::udfs() {
        ctx.register_udf(udf);
    }
    ctx.register_udf(super::format::udf());
    let date_part = ScalarUDF::new_from_impl(super::date_fields::DatePart::new());
    ctx.register_udf(ScalarUDF::new_from_impl(super::extract::Extract::new(
        date_part.clone(),
    )));
    ctx.register_udf(date_part);
    for udaf in super::ordered_set::udafs() {
        ctx.register_udaf(udaf);
    }
    ctx.register_udf(super::age::udf());
    ctx.register_udf(super::regexp_split::udf());
    ctx.register_udf(super::pattern_match::udf());
    super::int4_results::register(ctx);
    for udf in super::array_edit::udfs() {
        ctx.register_udf(udf);
    }
    for udf in super::binary_text::udfs() {
        ctx.register_udf(udf);
    }
    for udf in super::number_text::udfs() {
        ctx.register_udf(udf);
    }
    ctx.register_udtf(
        "regexp_split_to_table",
        Arc::new(super::regexp_split::RegexpSplitTable),
    );
    for udf in super::uuid::udfs() {
        ctx.register_udf(udf);
    }
    ctx.register_udf(ScalarUDF::new_from_impl(
        super::at_time_zone::Timezone::new(),
    ));
    ctx.register_udf(ScalarUDF::new_from_impl(ExpandArray::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(IntVector::new()));
    for (name, naming) in [
        ("epochdb_sql_type", sql_type_name as TypeNaming),
        ("epochdb_udt_name", udt_name),
    ] {
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Utf8],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(move |args| rename_arrow_types(args, naming)),
        ));
    }
    // EpochDB has no sequences, so no column owns one. SQLAlchemy's
    // inspector asks for each column.
    ctx.register_udf(ScalarUDF::new_from_impl(NullFunction::new(
        "pg_get_serial_sequence",
        vec![TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8])],
    )));
    // EpochDB has no SQL-language functions, so none has a body to show.
    // psql's `\df+` asks for it.
    ctx.register_udf(ScalarUDF::new_from_impl(NullFunction::new(
        "pg_get_function_sqlbody",
        vec![TypeSignature::Any(1)],
    )));
    // What a `'name'::regclass` literal calls when no relation has the
    // name (see the session's catalog rewrite): PostgreSQL's 42P01.
    ctx.register_udf(create_udf(
        "epochdb_undefined_relation",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Volatile,
        Arc::new(|args| {
            let names = ColumnarValue::values_to_arrays(args)?;
            let names = names[0].as_string::<i32>();
            let name = (0..names.len())
                .find(|&i| names.is_valid(i))
                .map(|i| names.value(i).to_owned())
                .unwrap_or_default();
            Err(datafusion::error::DataFusionError::External(Box::new(
                Error::UndefinedTable { name },
            )))
        }),
    ));
    // There is no COMMENT ON, so nothing has a description. psql's `\d+`
    // and `\df+` ask for them.
    for (name, arities) in [
        ("col_description", vec![2]),
        ("obj_description", vec![1, 2]),
        ("shobj_description", vec![2]),
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(NullFunction::new(
            name,
            arities.into_iter().map(TypeSignature::Any).collect(),
        )));
    }
    // Outside a database no oid names an index; in one, the keys' indexes
    // are described by `keys_catalog`'s own `pg_get_indexdef`.
    ctx.register_udf(ScalarUDF::new_from_impl(NullFunction::new(
        "pg_get_indexdef",
        vec![TypeSignature::Any(1), TypeSignature::Any(3)],
    )));
    // EpochDB has no advisory locks, so a session never holds one to release.
    // Pool resets (asyncpg's) call this; like PostgreSQL's `void`, it renders
    // as an empty value.
    ctx.register_udf(create_udf(
        "pg_advisory_unlock_all",
        vec![],
        DataType::Utf8,
        Volatility::Volatile,
        Arc::new(|_| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
                Some(String::new()),
            )))
        }),
    ));
}

/// Adds PostgreSQL's `date_trunc(field, timestamptz, zone)` to the
/// `date_trunc` registered by now (the time-series layer's), and its
/// `to_timestamp(text, template)` to DataFusion's `to_timestamp`, with
/// `to_date(text, template)` in place of DataFusion's.
pub(crate) fn register_date_trunc_zone(ctx: &SessionContext) {
    use datafusion::execution::FunctionRegistry;
    if let Ok(existing) = ctx.udf("date_trunc") {
        ctx.register_udf(ScalarUDF::new_from_impl(
            super::date_fields::DateTrunc::wrapping(existing.as_ref().clone()),
        ));
    }
    if let Ok(existing) = ctx.udf("to_timestamp") {
        ctx.register_udf(ScalarUDF::new_from_impl(
            super::from_char::FromChar::to_timestamp(existing.as_ref().clone()),
        ));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(
        super::from_char::FromChar::to_date(),
    ));
}

/// Registers the functions whose answer depends on the session's database.
pub(crate) fn register_for_database(ctx: &SessionContext, database: &str) {
    ctx.register_udf(pg::create_current_database_udf(database));
}

/// `epochdb_format_type_list(oids)`: the names of the types in a
/// space-separated oid list (pg-catalog's form of `oidvector`), as
/// `format_type` names them, joined by ", ". What `pg_get_function_arguments`
/// prints for a function's `proargtypes` (psql's `\df`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct FormatTypeList {
    signature: Signature,
    format_type: ScalarUDF,
}

impl FormatTypeList {
    fn new() -> Self {
        Self {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
            format_type: format_type::create_format_type_udf(),
        }
    }
}

impl ScalarUDFImpl for FormatTypeList {
    fn name(&self) -> &str {
        "epochdb_format_type_list"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let lists = ColumnarValue::values_to_arrays(&args.args)?;
        let lists = cast(&lists[0], &DataType::Utf8)?;
        let lists = lists.as_string::<i32>();
        // Every oid of every row, named in one call.
        let mut oids = Vec::new();
        let mut ends = Vec::with_capacity(lists.len());
        for list in lists.iter() {
            for oid in list.unwrap_or_default().split_ascii_whitespace() {
                match oid.parse::<i64>() {
                    Ok(oid) => oids.push(oid),
                    Err(_) => {
                        return Err(Error::InvalidTextRepresentation {
                            message: format!("invalid oid list: \"{}\"", list.unwrap_or_default()),
                        }
                        .into());
                    }
                }
            }
            ends.push(oids.len());
        }
        let count = oids.len();
        let names = self.format_type.invoke_with_args(ScalarFunctionArgs {
            args: vec![
                ColumnarValue::Array(Arc::new(Int64Array::from(oids))),
                ColumnarValue::Scalar(ScalarValue::Int32(None)),
            ],
            arg_fields: vec![
                Arc::new(Field::new("oid", DataType::Int64, true)),
                Arc::new(Field::new("typemod", DataType::Int32, true)),
            ],
            number_rows: count,
            return_field: Arc::new(Field::new("format_type", DataType::Utf8, true)),
            config_options: args.config_options.clone(),
        })?;
        let names = names.into_array(count)?;
        let names = cast(&names, &DataType::Utf8)?;
        let names = names.as_string::<i32>();
        let mut out = StringBuilder::new();
        let mut start = 0;
        for (row, end) in ends.into_iter().enumerate() {
            if lists.is_null(row) {
                out.append_null();
            } else {
                let row_names: Vec<&str> = (start..end)
                    .map(|i| {
                        if names.is_null(i) {
                            "???"
                        } else {
                            names.value(i)
                        }
                    })
                    .collect();
                out.append_value(row_names.join(", "));
            }
            start = end;
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `epochdb_expandarray(array)`: the elements of an array, each with its
/// 1-based position, as a list of `{x, n}` records. Unnested, it is
/// PostgreSQL's set-returning `information_schema._pg_expandarray`, which
/// pgJDBC's key and index metadata read `pg_index.indkey` with; pg-catalog
/// holds such vectors (`int2vector`, `oidvector`) as space-separated text, so
/// text is read as a vector of integers.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ExpandArray {
    signature: Signature,
}

impl ExpandArray {
    fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }

    fn record_fields(element: DataType) -> Fields {
        Fields::from(vec![
            Field::new("x", element, true),
            Field::new("n", DataType::Int32, false),
        ])
    }

    /// The element type of `input`: a list's own, or int4 for a text vector.
    fn element_type(input: &DataType) -> Result<DataType> {
        match input {
            DataType::List(field) => Ok(field.data_type().clone()),
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => {
                Ok(DataType::Int32)
            }
            other => Err(Error::DatatypeMismatch {
                message: format!("_pg_expandarray expects an array, not {other}"),
            }
            .into()),
        }
    }
}

impl ScalarUDFImpl for ExpandArray {
    fn name(&self) -> &str {
        "epochdb_expandarray"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let element = Self::element_type(&args[0])?;
        Ok(DataType::new_list(
            DataType::Struct(Self::record_fields(element)),
            true,
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = ColumnarValue::values_to_arrays(&args.args)?;
        let lists = match input[0].data_type() {
            DataType::List(_) => input[0].as_list::<i32>().clone(),
            _ => int_vectors(&input[0])?,
        };
        let element = Self::element_type(lists.data_type())?;
        // Each element's position in its own list; elements outside every
        // list (a sliced array's) are never read.
        let offsets = lists.offsets();
        let mut positions = vec![0; lists.values().len()];
        for window in offsets.windows(2) {
            let (start, end) = (window[0].as_usize(), window[1].as_usize());
            for (n, position) in positions[start..end].iter_mut().enumerate() {
                *position = i32::try_from(n + 1).unwrap_or(i32::MAX);
            }
        }
        let records = StructArray::try_new(
            Self::record_fields(element),
            vec![
                lists.values().clone(),
                Arc::new(Int32Array::from(positions)),
            ],
            None,
        )?;
        let field = Arc::new(Field::new_list_field(records.data_type().clone(), true));
        let expanded = ListArray::try_new(
            field,
            offsets.clone(),
            Arc::new(records),
            lists.nulls().cloned(),
        )?;
        Ok(ColumnarValue::Array(Arc::new(expanded)))
    }
}

/// Vectors in pg-catalog's text form (`"1 2"`, PostgreSQL's `int2vector` and
/// `oidvector`) as lists of int4.
fn int_vectors(text: &ArrayRef) -> Result<ListArray> {
    let text = cast(text, &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    let mut lists = ListBuilder::new(Int32Builder::new());
    for vector in text.iter() {
        let Some(vector) = vector else {
            lists.append_null();
            continue;
        };
        for item in vector.split_ascii_whitespace() {
            match item.parse::<i32>() {
                Ok(item) => lists.values().append_value(item),
                Err(_) => {
                    return Err(Error::InvalidTextRepresentation {
                        message: format!("invalid integer vector: \"{vector}\""),
                    }
                    .into());
                }
            }
        }
        lists.append(true);
    }
    Ok(lists.finish())
}

/// `epochdb_int_vector(text)`: a vector in pg-catalog's text form as a list
/// of int4.
#[derive(Debug, PartialEq, Eq, Hash)]
struct IntVector {
    signature: Signature,
}

impl IntVector {
    fn new() -> Self {
        Self {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for IntVector {
    fn name(&self) -> &str {
        "epochdb_int_vector"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::new_list(DataType::Int32, true))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = ColumnarValue::values_to_arrays(&args.args)?;
        Ok(ColumnarValue::Array(Arc::new(int_vectors(&text[0])?)))
    }
}

/// Plans a subscript of text (`pg_index.indoption[0]`), which PostgreSQL
/// rejects for real text, as an element of the `int2vector` or `oidvector`
/// that pg-catalog holds as text. Such vectors count from 0. It must come
/// before DataFusion's own field-access planner, which claims every subscript.
#[derive(Debug)]
pub(crate) struct VectorSubscripts;

impl ExprPlanner for VectorSubscripts {
    fn plan_field_access(
        &self,
        access: RawFieldAccessExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawFieldAccessExpr>> {
        let RawFieldAccessExpr { expr, field_access } = access;
        match field_access {
            GetFieldAccess::ListIndex { key }
                if matches!(
                    expr.get_type(schema)?,
                    DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
                ) =>
            {
                let vector = Expr::ScalarFunction(ScalarFunction::new_udf(
                    Arc::new(ScalarUDF::new_from_impl(IntVector::new())),
                    vec![expr],
                ));
                Ok(PlannerResult::Planned(array_element(vector, *key + lit(1))))
            }
            field_access => Ok(PlannerResult::Original(RawFieldAccessExpr {
                expr,
                field_access,
            })),
        }
    }
}

/// How a type is named for PostgreSQL's `information_schema`; `None` for one
/// PostgreSQL has no name for.
type TypeNaming = fn(&DataType) -> Option<String>;

/// The names PostgreSQL gives the type EpochDB stores as `data_type`: its SQL
/// name (`information_schema.columns.data_type`) and its name in `pg_type`
/// (`udt_name`). `None` for a type PostgreSQL has no name for.
fn postgres_type_names(data_type: &DataType) -> Option<(&'static str, String)> {
    let (sql, udt) = match data_type {
        DataType::Boolean => ("boolean", "bool"),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => ("smallint", "int2"),
        DataType::Int32 | DataType::UInt16 => ("integer", "int4"),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => ("bigint", "int8"),
        DataType::Float16 | DataType::Float32 => ("real", "float4"),
        DataType::Float64 => ("double precision", "float8"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ("text", "text"),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => ("bytea", "bytea"),
        DataType::Timestamp(_, None) => ("timestamp without time zone", "timestamp"),
        DataType::Timestamp(_, Some(_)) => ("timestamp with time zone", "timestamptz"),
        DataType::Date32 | DataType::Date64 => ("date", "date"),
        DataType::Time32(_) | DataType::Time64(_) => ("time without time zone", "time"),
        DataType::Interval(_) | DataType::Duration(_) => ("interval", "interval"),
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => ("numeric", "numeric"),
        DataType::List(element)
        | DataType::LargeList(element)
        | DataType::FixedSizeList(element, _) => {
            let (_, element) = postgres_type_names(element.data_type())?;
            return Some(("ARRAY", format!("_{element}")));
        }
        DataType::Dictionary(_, value) => return postgres_type_names(value),
        _ => return None,
    };
    Some((sql, udt.to_owned()))
}

fn sql_type_name(data_type: &DataType) -> Option<String> {
    postgres_type_names(data_type).map(|(sql, _)| sql.to_owned())
}

fn udt_name(data_type: &DataType) -> Option<String> {
    postgres_type_names(data_type).map(|(_, udt)| udt)
}

/// Arrow type names (as DataFusion's `information_schema` writes them) renamed
/// by `naming`; a type it has no name for keeps Arrow's.
fn rename_arrow_types(args: &[ColumnarValue], naming: TypeNaming) -> Result<ColumnarValue> {
    let names = ColumnarValue::values_to_arrays(args)?;
    let names = cast(&names[0], &DataType::Utf8)?;
    let renamed: StringArray = names
        .as_string::<i32>()
        .iter()
        .map(|arrow| {
            arrow.map(|arrow| {
                arrow
                    .parse::<DataType>()
                    .ok()
                    .and_then(|data_type| naming(&data_type))
                    .unwrap_or_else(|| arrow.to_owned())
            })
        })
        .collect();
    Ok(ColumnarValue::Array(Arc::new(renamed)))
}

/// A function whose answer is NULL for every argument EpochDB can be given,
/// because the objects it describes do not exist here.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NullFunction {
    name: &'static str,
    signature: Signature,
}

impl NullFunction {
    fn new(name: &'static str, arities: Vec<TypeSignature>) -> Self {
        Self {
            name,
            signature: Signature::one_of(arities, Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for NullFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))
    }
}

/// `like_escape(pattern, escape)`: the LIKE pattern with `escape` as its
/// escape character, rewritten to use the backslash.
fn like_escape_udf(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let (patterns, escapes) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>());
    let mut out = StringBuilder::new();
    for row in 0..patterns.len() {
        if patterns.is_null(row) || escapes.is_null(row) {
            out.append_null();
            continue;
        }
        out.append_value(like_escape(patterns.value(row), escapes.value(row))?);
    }
    let array: ArrayRef = Arc::new(out.finish());
    Ok(
        if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
        } else {
            ColumnarValue::Array(array)
        },
    )
}

/// PostgreSQL's `like_escape`. An empty escape turns escaping off.
fn like_escape(pattern: &str, escape: &str) -> Result<String> {
    let mut chars = escape.chars();
    let escape = match (chars.next(), chars.next()) {
        (None, _) => None,
        (Some('\\'), None) => return Ok(pattern.to_owned()),
        (Some(c), None) => Some(c),
        _ => return Err(Error::InvalidEscapeSequence.into()),
    };
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut rest = pattern.chars();
    while let Some(c) = rest.next() {
        if Some(c) == escape {
            // A trailing escape stays, as a trailing backslash.
            out.push('\\');
            out.extend(rest.next());
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;

    #[test]
    fn arrow_type_names_become_postgres_names() {
        let list = DataType::new_list(DataType::Int32, true);
        let cases = [
            (
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                "timestamp with time zone",
                "timestamptz",
            ),
            (
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                "timestamp without time zone",
                "timestamp",
            ),
            (DataType::Float64, "double precision", "float8"),
            (DataType::Int16, "smallint", "int2"),
            (DataType::Utf8, "text", "text"),
            (list, "ARRAY", "_int4"),
        ];
        for (data_type, sql, udt) in cases {
            // As DataFusion's information_schema writes the type.
            let arrow = ColumnarValue::Scalar(ScalarValue::Utf8(Some(data_type.to_string())));
            for (naming, want) in [(sql_type_name as TypeNaming, sql), (udt_name, udt)] {
                let got = rename_arrow_types(std::slice::from_ref(&arrow), naming)
                    .and_then(|named| named.into_array(1))
                    .unwrap();
                assert_eq!(got.as_string::<i32>().value(0), want, "{data_type}");
            }
        }
        let unknown = ColumnarValue::Scalar(ScalarValue::Utf8(Some("Nonsense".to_owned())));
        let got = rename_arrow_types(&[unknown], sql_type_name)
            .and_then(|named| named.into_array(1))
            .unwrap();
        assert_eq!(got.as_string::<i32>().value(0), "Nonsense");
    }
}
