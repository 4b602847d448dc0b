use arrow::array::{AsArray, BinaryArray};
use arrow::datatypes::{Int64Type, TimeUnit};

use super::*;

fn schema(fields: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new(fields))
}

fn buf(records: &[&str]) -> RecordBuf {
    let mut buf = RecordBuf::default();
    for r in records {
        buf.push(r.as_bytes());
    }
    buf
}

#[test]
fn json_isolates_bad_records_and_not_null_violations() {
    let declared = schema(vec![Field::new("id", DataType::Int64, false), Field::new("name", DataType::Utf8, true)]);
    let decoder = JsonDecoder::new(&declared).unwrap();
    let records = buf(&[r#"{"id": 1, "name": "a"}"#, "not json", r#"{"name": "b"}"#, r#"{"id": "7"}"#, "[1]", r#"{"id": 2}{"id": 3}"#]);
    let decoded = decode_records(&decoder, &declared, &records).unwrap();
    assert_eq!(decoded.rows_of, vec![0, 3]);
    let ids = decoded.batch.column(0).as_primitive::<Int64Type>();
    assert_eq!(ids.values().to_vec(), vec![1, 7]);
    let got: Vec<(usize, &str)> = decoded.errors.iter().map(|(i, m)| (*i, m.as_str())).collect();
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got[0].0 == 1 && got[0].1.starts_with("invalid JSON"), "{got:?}");
    assert!(got[1].0 == 2 && got[1].1.contains("'id' is NOT NULL"), "{got:?}");
    assert!(got[2].0 == 4 && got[2].1.starts_with("expected a JSON object"), "{got:?}");
    assert_eq!(got[3].0, 5);
}

#[test]
fn json_fast_path_keeps_every_record() {
    let declared = schema(vec![Field::new("at", DataType::Timestamp(TimeUnit::Millisecond, None), true)]);
    let decoder = JsonDecoder::new(&declared).unwrap();
    let records = buf(&["{\"at\": \"2024-01-01T00:00:00Z\"}", "{\n  \"at\": 1000\n}"]);
    let decoded = decode_records(&decoder, &declared, &records).unwrap();
    assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
    assert_eq!(decoded.batch.num_rows(), 2);
}

#[test]
fn csv_by_position_and_by_header() {
    let declared = schema(vec![Field::new("id", DataType::Int64, true), Field::new("note", DataType::Utf8, true)]);
    let decoder = CsvDecoder::by_position(&declared, b',').unwrap();
    let records = buf(&["1,hello", "2,\"a, b\"", "x,y", "3"]);
    let decoded = decode_records(&decoder, &declared, &records).unwrap();
    assert_eq!(decoded.rows_of, vec![0, 1]);
    assert_eq!(decoded.batch.column(1).as_string::<i32>().value(1), "a, b");
    assert_eq!(decoded.errors[0], (2, "column 'id': cannot parse 'x' as BIGINT".to_string()));
    assert_eq!(decoded.errors[1], (3, "record has 1 fields, expected 2".to_string()));

    let header: Vec<String> = vec!["Note".into(), "extra".into(), "id".into()];
    let decoder = CsvDecoder::with_header(&declared, b',', &header).unwrap();
    let decoded = decode_records(&decoder, &declared, &buf(&["hi,zz,5"])).unwrap();
    assert_eq!(decoded.batch.column(0).as_primitive::<Int64Type>().value(0), 5);
    assert_eq!(decoded.batch.column(1).as_string::<i32>().value(0), "hi");
    let missing = CsvDecoder::with_header(&declared, b',', &["a".to_string()]).err().unwrap().to_string();
    assert_eq!(missing, "no column 'id' (the header has: a)");
}

#[test]
fn raw_text_and_bytes() {
    let declared = schema(vec![Field::new("line", DataType::Utf8, true)]);
    let decoder = RawDecoder::new(&declared).unwrap();
    let mut records = RecordBuf::default();
    records.push_exact(b"plain\n");
    records.push_exact(&[0xff, 0xfe]);
    records.push_exact(b"");
    let decoded = decode_records(&decoder, &declared, &records).unwrap();
    assert_eq!(decoded.rows_of, vec![0, 2]);
    assert_eq!(decoded.batch.column(0).as_string::<i32>().value(0), "plain\n");
    assert!(decoded.errors[0].1.starts_with("not valid UTF-8"), "{:?}", decoded.errors);

    let declared = schema(vec![Field::new("payload", DataType::Binary, true)]);
    let decoder = RawDecoder::new(&declared).unwrap();
    let decoded = decode_records(&decoder, &declared, &records).unwrap();
    let bytes = decoded.batch.column(0).as_any().downcast_ref::<BinaryArray>().unwrap();
    assert_eq!(bytes.value(1), &[0xff, 0xfe]);

    let two = schema(vec![Field::new("a", DataType::Utf8, true), Field::new("b", DataType::Utf8, true)]);
    assert!(RawDecoder::new(&two).err().unwrap().to_string().contains("exactly one column"));
    let int = schema(vec![Field::new("a", DataType::Int64, true)]);
    assert!(RawDecoder::new(&int).err().unwrap().to_string().contains("VARCHAR or BYTEA"));
}

#[test]
fn unsupported_types_are_named() {
    let declared = schema(vec![Field::new("m", DataType::Map(Arc::new(Field::new("e", DataType::Utf8, false)), false), true)]);
    let err = CsvDecoder::by_position(&declared, b',').err().unwrap().to_string();
    assert!(err.starts_with("column 'm': type"), "{err}");
}
