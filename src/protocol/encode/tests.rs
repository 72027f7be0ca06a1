use std::sync::Arc;

use datafusion::arrow::datatypes::Field;

use super::*;

#[test]
fn binary_rows_carry_lengths_and_nulls() {
    use datafusion::arrow::array::{Int32Array, StringArray};
    let schema = Arc::new(Schema::new(vec![
        Field::new("i", DataType::Int32, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int32Array::from(vec![Some(7), None])),
            Arc::new(StringArray::from(vec![Some("ab"), Some("")])),
        ],
    )
    .unwrap();
    let fields = field_infos(&schema, |_| FieldFormat::Binary);
    let rows = encode_batch(&batch, &fields, &RenderOptions::new("UTC")).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        &rows[0].data[..],
        &[0, 0, 0, 4, 0, 0, 0, 7, 0, 0, 0, 2, b'a', b'b']
    );
    assert_eq!(&rows[1].data[..], &[255, 255, 255, 255, 0, 0, 0, 0]);
}
