//! xlfeed-proto: the `xlfeed.v1` protobuf package, the wire types of xlserver's gRPC
//! `QueryService` (the query side of the flow: query → Excel add-in and gRPC clients).
//!
//! The Rust types are generated at build time by prost-build from the `.proto` files,
//! compiled by protox, so building this crate needs no system `protoc`. This crate holds
//! wire types only; the service code is generated in the server crate, and the stores keep
//! their own columnar chunks (pipeline/store), not protobuf.
//!
//! # Layout
//!
//! - `proto/xlfeed/v1/query.proto`: the `QueryService` (one rpc per query function), the
//!   request messages of its functions ([`v1::HistoryRequest`], [`v1::TicksRequest`],
//!   [`v1::QuoteRequest`], ...) and the answers: [`v1::Table`], [`v1::TablePage`],
//!   [`v1::Row`], [`v1::Cell`].
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors of all of the above, the service
//!   included, for gRPC reflection.
//!
//! In short: parameters are text as the HTTP API takes them, answers are tables of typed
//! cells; times in cells are UTC nanoseconds (`time_ns`), dates `yyyymmdd` integers.

/// The `xlfeed.v1` protobuf package, generated from `proto/xlfeed/v1/*.proto`.
///
/// Every item carries the comment of its `.proto` definition as its documentation; the
/// workspace's `missing_docs` lint stays on here so that an undocumented field fails
/// the build.
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/xlfeed.v1.rs"));
}

/// The encoded `google.protobuf.FileDescriptorSet` of the `xlfeed.v1` package, with
/// source info (comments), as gRPC reflection serves it.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/xlfeed_v1_descriptor.bin"));

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use prost::Message;

    use super::FILE_DESCRIPTOR_SET;
    use super::v1::{Cell, Row, Table, TablePage, cell};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn a_table_page_round_trips_with_every_cell_type_and_an_empty_cell() -> TestResult {
        let page = TablePage {
            columns: vec![
                "date".into(),
                "close".into(),
                "volume".into(),
                "note".into(),
            ],
            rows: vec![Row {
                cells: vec![
                    Cell {
                        value: Some(cell::Value::Date(20240612)),
                    },
                    Cell {
                        value: Some(cell::Value::Num(212.49)),
                    },
                    Cell {
                        value: Some(cell::Value::Int(1_234_567)),
                    },
                    // No value: an empty cell, not a zero.
                    Cell { value: None },
                ],
            }],
            page: 3,
            next: "cursor".into(),
        };
        let decoded = TablePage::decode(page.encode_to_vec().as_slice())?;
        assert_eq!(decoded, page);
        assert_eq!(decoded.rows[0].cells[3].value, None);
        Ok(())
    }

    #[test]
    fn a_zero_number_is_not_an_empty_cell() -> TestResult {
        let table = Table {
            columns: vec!["theta".into()],
            rows: vec![Row {
                cells: vec![Cell {
                    value: Some(cell::Value::Num(0.0)),
                }],
            }],
            next: String::new(),
        };
        let decoded = Table::decode(table.encode_to_vec().as_slice())?;
        assert_eq!(decoded.rows[0].cells[0].value, Some(cell::Value::Num(0.0)));
        Ok(())
    }

    #[test]
    fn descriptor_set_describes_the_service() -> TestResult {
        let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)?;
        let files: BTreeSet<&str> = set.file.iter().map(|file| file.name()).collect();
        assert_eq!(files, BTreeSet::from(["xlfeed/v1/query.proto"]));
        assert!(set.file.iter().all(|file| file.package() == "xlfeed.v1"));

        let services: Vec<&str> = set
            .file
            .iter()
            .flat_map(|file| &file.service)
            .map(|service| service.name())
            .collect();
        assert_eq!(services, ["QueryService"]);

        let messages: BTreeSet<&str> = set
            .file
            .iter()
            .flat_map(|file| &file.message_type)
            .map(|message| message.name())
            .collect();
        for message in ["Table", "TablePage", "Row", "Cell", "HistoryRequest"] {
            assert!(messages.contains(message), "missing message {message:?}");
        }

        // Reflection clients show the .proto comments, so source info must be kept.
        assert!(set.file.iter().all(|file| file.source_code_info.is_some()));
        Ok(())
    }
}
