//! xlfeed-proto: the `xlfeed.v1` protobuf messages, the wire types shared by every stage
//! of the flow (fetch → SSDB-FEED → postprocess → SSDB-POST → query → Excel add-in).
//!
//! The Rust types are generated at build time by prost-build from the `.proto` files,
//! compiled by protox, so building this crate needs no system `protoc`. This crate holds
//! wire types only; conversions to and from the domain types live with those types.
//!
//! # Layout
//!
//! - `proto/xlfeed/v1/market.proto`: [`v1::TradeTick`], [`v1::Bar`], [`v1::DailyBar`],
//!   [`v1::Quote`], and the units and date conventions of the whole package.
//! - `proto/xlfeed/v1/options.proto`: [`v1::OptionRight`], [`v1::OptionContract`],
//!   [`v1::OptionChain`].
//! - `proto/xlfeed/v1/reference.proto`: [`v1::Dividend`], [`v1::Fundamentals`],
//!   [`v1::RateCurve`], [`v1::RatePoint`], [`v1::RateConvention`].
//! - `proto/xlfeed/v1/post.proto`: postprocess output, [`v1::EnrichedOptionTrade`] with
//!   [`v1::QualityFlag`] and [`v1::DividendMethod`], [`v1::ContractDailyAggregate`],
//!   [`v1::IvSummary`] with [`v1::IvTerm`].
//! - `proto/xlfeed/v1/query.proto`: xlserver's gRPC `QueryService` (its service code is
//!   generated in the server crate), the request messages of its functions
//!   ([`v1::HistoryRequest`], [`v1::TicksRequest`], [`v1::QuoteRequest`], ...) and the
//!   answers: [`v1::Table`], [`v1::TablePage`], [`v1::Row`], [`v1::Cell`].
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors of all of the above, the service
//!   included, for gRPC reflection.
//!
//! In short: times are UTC nanoseconds (`*_ns`, `i64`), dates are `yyyymmdd` integers,
//! prices are USD per share, rates and volatilities are decimal fractions (0.0525 is
//! 5.25%), and analytics that may have no value are `Option<f64>`.

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
    use super::v1::{
        DividendMethod, EnrichedOptionTrade, OptionChain, OptionContract, OptionRight, QualityFlag,
        TradeTick,
    };

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn contract(expiry: i32, strike: f64, right: OptionRight) -> OptionContract {
        // March: IQFeed's month letter is C for calls and O for puts.
        let (occ_letter, iqfeed_month) = match right {
            OptionRight::Put => ('P', 'O'),
            _ => ('C', 'C'),
        };
        OptionContract {
            underlying: "AAPL".to_owned(),
            expiry,
            strike,
            right: right.into(),
            multiplier: 100,
            iqfeed_symbol: format!("AAPL2415{iqfeed_month}{strike}"),
            occ_symbol: format!("AAPL  240315{occ_letter}{:08}", (strike * 1000.0) as i64),
        }
    }

    fn enriched_trade() -> EnrichedOptionTrade {
        EnrichedOptionTrade {
            trade: Some(TradeTick {
                time_ns: 1_710_513_000_123_456_789,
                price: 3.45,
                size: 12,
                bid: 3.40,
                ask: 3.50,
                tick_id: 4_242_424,
                basis: "C".to_owned(),
                market_center: 11,
                conditions: "3D87".to_owned(),
            }),
            contract: Some(contract(20240315, 170.0, OptionRight::Call)),
            underlying_price: 172.31,
            underlying_bid: 172.30,
            underlying_ask: 172.32,
            underlying_staleness_ns: -250_000,
            rate: 0.0531,
            rate_curve: "SOFR".to_owned(),
            rate_tenor_days: 1,
            dividend_yield: 0.0055,
            dividend_method: DividendMethod::ContinuousYield.into(),
            time_to_expiry_years: 0.0011,
            iv: Some(0.2475),
            delta: Some(0.81),
            gamma: Some(0.09),
            vega: Some(0.012),
            theta: Some(-0.41),
            // Left unset on purpose: "no number" must survive the round trip as None.
            rho: None,
            quality_flags: QualityFlag::StaleUnderlying as u32 | QualityFlag::BelowIntrinsic as u32,
        }
    }

    #[test]
    fn enriched_option_trade_round_trips() -> TestResult {
        let trade = enriched_trade();
        let decoded = EnrichedOptionTrade::decode(trade.encode_to_vec().as_slice())?;
        assert_eq!(decoded, trade);
        assert_eq!(decoded.rho, None);
        assert_eq!(decoded.iv, Some(0.2475));
        assert_eq!(decoded.dividend_method(), DividendMethod::ContinuousYield);
        assert_eq!(decoded.quality_flags, 5);
        Ok(())
    }

    #[test]
    fn optional_zero_is_not_missing() -> TestResult {
        let trade = EnrichedOptionTrade {
            theta: Some(0.0),
            ..EnrichedOptionTrade::default()
        };
        let decoded = EnrichedOptionTrade::decode(trade.encode_to_vec().as_slice())?;
        assert_eq!(decoded.theta, Some(0.0));
        assert_eq!(decoded.delta, None);
        Ok(())
    }

    #[test]
    fn option_chain_round_trips() -> TestResult {
        let chain = OptionChain {
            underlying: "AAPL".to_owned(),
            date: 20240314,
            contracts: vec![
                contract(20240315, 170.0, OptionRight::Call),
                contract(20240315, 170.0, OptionRight::Put),
                contract(20240315, 172.5, OptionRight::Call),
            ],
        };
        let decoded = OptionChain::decode(chain.encode_to_vec().as_slice())?;
        assert_eq!(decoded, chain);
        assert_eq!(decoded.contracts.len(), 3);
        assert_eq!(decoded.contracts[1].right(), OptionRight::Put);
        assert_eq!(decoded.contracts[1].occ_symbol, "AAPL  240315P00170000");
        Ok(())
    }

    #[test]
    fn quality_flags_are_distinct_bits() {
        let flags = [
            QualityFlag::StaleUnderlying,
            QualityFlag::NoUnderlying,
            QualityFlag::BelowIntrinsic,
            QualityFlag::AboveUpperBound,
            QualityFlag::ZeroTime,
            QualityFlag::ZeroVega,
            QualityFlag::NoRate,
            QualityFlag::UnresolvedContract,
            QualityFlag::ClosedDay,
            QualityFlag::ProjectedDividends,
        ];
        let mut all = 0u32;
        for flag in flags {
            let bit = flag as u32;
            assert!(
                bit.is_power_of_two(),
                "{} is not one bit",
                flag.as_str_name()
            );
            assert_eq!(all & bit, 0, "{} overlaps another flag", flag.as_str_name());
            all |= bit;
        }
        assert_eq!(all, 1023);
    }

    #[test]
    fn descriptor_set_describes_the_package() -> TestResult {
        let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)?;
        let files: BTreeSet<&str> = set.file.iter().map(|file| file.name()).collect();
        for file in [
            "xlfeed/v1/market.proto",
            "xlfeed/v1/options.proto",
            "xlfeed/v1/reference.proto",
            "xlfeed/v1/post.proto",
        ] {
            assert!(files.contains(file), "missing file {file:?} in {files:?}");
        }
        assert!(set.file.iter().all(|file| file.package() == "xlfeed.v1"));

        let messages: BTreeSet<&str> = set
            .file
            .iter()
            .flat_map(|file| &file.message_type)
            .map(|message| message.name())
            .collect();
        for message in [
            "TradeTick",
            "Bar",
            "DailyBar",
            "Quote",
            "OptionContract",
            "OptionChain",
            "Dividend",
            "Fundamentals",
            "RateCurve",
            "RatePoint",
            "EnrichedOptionTrade",
            "ContractDailyAggregate",
            "IvSummary",
            "IvTerm",
        ] {
            assert!(messages.contains(message), "missing message {message:?}");
        }

        let enums: BTreeSet<&str> = set
            .file
            .iter()
            .flat_map(|file| &file.enum_type)
            .map(|enumeration| enumeration.name())
            .collect();
        for enumeration in [
            "OptionRight",
            "RateConvention",
            "DividendMethod",
            "QualityFlag",
        ] {
            assert!(enums.contains(enumeration), "missing enum {enumeration:?}");
        }

        // Reflection clients show the .proto comments, so source info must be kept.
        assert!(set.file.iter().all(|file| file.source_code_info.is_some()));
        Ok(())
    }
}
