//! The lookup port's reference tables and industry searches: `SLM` (listed markets), `SST`
//! (security types), `STC` (trade conditions), `SSC` (SIC codes), `SNC` (NAICS codes), `SBS`
//! (symbols by SIC) and `SBN` (symbols by NAICS), with the line layouts of
//! shared/reference/iqfeed-protocol.md §5. `lookup_port` writes the rows this file makes,
//! behind the request id and the 6.2 `LS` record type, as it writes `SBF` results.
//!
//! Client libraries load these tables when they start (pyiqfeed's `TableConn` asks for all
//! five, without request ids, and its reader stops on any reply it cannot place), so an
//! IQConnect stand-in has to answer them. What the simulator answers, where the reference
//! leaves it open:
//!
//! - The tables hold the ids the simulated market uses and the ones the reference lists by
//!   name: listed markets by the short names of the reference's enum (`2` is `NCM`, as in
//!   its sample line), the NASDAQ tiers (1, 2, 21) in group 5 and every other market in a
//!   group of its own; market centers 19 and 26, which the tape uses but the reference does
//!   not name, are left out rather than given invented names. Trade conditions are the ones
//!   the tape prints (regular, intermarket sweep `3D`, odd lot `87`), by decimal id.
//! - SIC descriptions are the standard industry titles, commas and all (a client joins the
//!   fields after the code). NAICS titles likewise.
//! - `SBS` and `SBN` match codes by prefix ("3571" and "35" both find AAPL). Instruments carry
//!   no NAICS code (the `F` message leaves it empty), so `SBN` always answers `!NO_DATA!`.
//! - Data lines end with a comma like every other lookup line.

use super::Market;
use super::universe::{listed_market, security_type};
use crate::wire::lookup::{BAD_PARAMETERS, SYNTAX_ERROR};

/// A table or industry-search request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TableRequest {
    /// `SLM`: listed markets.
    Markets,
    /// `SST`: security types.
    SecurityTypes,
    /// `STC`: trade conditions.
    TradeConditions,
    /// `SSC`: SIC codes.
    SicCodes,
    /// `SNC`: NAICS codes.
    NaicsCodes,
    /// `SBS,code`: symbols whose SIC code starts with `code`.
    BySic(String),
    /// `SBN,code`: symbols whose NAICS code starts with `code`.
    ByNaics(String),
}

/// A request line that names a table command but does not parse: the error text and the
/// request id to echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableError {
    pub(crate) text: &'static str,
    pub(crate) id: Option<String>,
}

/// Reads a table or industry-search request and its request id; `None` for any other
/// command (the caller parses those).
pub(crate) fn parse(line: &str) -> Option<Result<(TableRequest, Option<String>), TableError>> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let (takes_code, table) = match fields[0] {
        "SLM" => (false, TableRequest::Markets),
        "SST" => (false, TableRequest::SecurityTypes),
        "STC" => (false, TableRequest::TradeConditions),
        "SSC" => (false, TableRequest::SicCodes),
        "SNC" => (false, TableRequest::NaicsCodes),
        "SBS" => (true, TableRequest::BySic(String::new())),
        "SBN" => (true, TableRequest::ByNaics(String::new())),
        _ => return None,
    };
    let id_at = if takes_code { 2 } else { 1 };
    let id = fields
        .get(id_at)
        .filter(|id| !id.is_empty())
        .map(|id| (*id).to_owned());
    // A trailing empty field (a line ending in a comma) is not a parameter.
    let given = fields.len() - usize::from(fields.len() > 1 && fields[fields.len() - 1].is_empty());
    if given > id_at + 1 {
        return Some(Err(TableError {
            text: BAD_PARAMETERS,
            id,
        }));
    }
    if !takes_code {
        return Some(Ok((table, id)));
    }
    let code = fields.get(1).copied().unwrap_or("");
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Err(TableError {
            text: SYNTAX_ERROR,
            id,
        }));
    }
    let table = match table {
        TableRequest::BySic(_) => TableRequest::BySic(code.to_owned()),
        _ => TableRequest::ByNaics(code.to_owned()),
    };
    Some(Ok((table, id)))
}

/// The reply's data lines, each without the id, the record type and the line end (empty
/// means `!NO_DATA!`).
pub(crate) fn rows(m: &Market, req: &TableRequest) -> Vec<String> {
    match req {
        TableRequest::Markets => LISTED_MARKETS
            .iter()
            .map(|(id, short, long)| {
                let group = match *id {
                    1 | 2 | listed_market::NASDAQ_GLOBAL_SELECT => listed_market::NASDAQ,
                    other => other,
                };
                let group_name = LISTED_MARKETS
                    .iter()
                    .find(|(g, _, _)| *g == group)
                    .map_or(*short, |(_, s, _)| *s);
                format!("{id},{short},{long},{group},{group_name},")
            })
            .collect(),
        TableRequest::SecurityTypes => SECURITY_TYPES
            .iter()
            .map(|(id, short, long)| format!("{id},{short},{long},"))
            .collect(),
        TableRequest::TradeConditions => TRADE_CONDITIONS
            .iter()
            .map(|(id, short, long)| format!("{id},{short},{long},"))
            .collect(),
        TableRequest::SicCodes => SIC_CODES
            .iter()
            .map(|(code, title)| format!("{code},{title},"))
            .collect(),
        TableRequest::NaicsCodes => NAICS_CODES
            .iter()
            .map(|(code, title)| format!("{code},{title},"))
            .collect(),
        TableRequest::BySic(prefix) => {
            let mut found: Vec<_> = m
                .universe()
                .instruments()
                .iter()
                .filter(|i| i.sic != 0 && i.sic.to_string().starts_with(prefix.as_str()))
                .collect();
            found.sort_by(|a, b| (a.sic, &a.symbol).cmp(&(b.sic, &b.symbol)));
            found
                .into_iter()
                .map(|i| {
                    format!(
                        "{},{},{},{},{},",
                        i.sic,
                        i.symbol,
                        i.listed_market,
                        i.security_type(),
                        i.name
                    )
                })
                .collect()
        }
        TableRequest::ByNaics(_) => Vec::new(),
    }
}

/// `SLM` rows: id, short name, long name (the group follows from the id).
const LISTED_MARKETS: &[(u32, &str, &str)] = &[
    (1, "NMS", "Nasdaq Global Market"),
    (2, "NCM", "National Capital Market"),
    (3, "OTC", "Over-the-counter"),
    (4, "OTCBB", "OTC Bulletin Board"),
    (listed_market::NASDAQ, "NASDAQ", "Nasdaq"),
    (6, "NYSE_AMEX", "NYSE American"),
    (listed_market::NYSE, "NYSE", "New York Stock Exchange"),
    (8, "CHX", "Chicago Stock Exchange"),
    (9, "PHLX", "Philadelphia Stock Exchange"),
    (10, "NSX", "National Stock Exchange"),
    (listed_market::NYSE_ARCA, "ARCA", "NYSE Arca"),
    (12, "BX", "Nasdaq BX"),
    (
        listed_market::CBOE,
        "CBOE",
        "Chicago Board Options Exchange",
    ),
    (14, "OPRA", "Options Price Reporting Authority"),
    (15, "NASD_ADF", "FINRA Alternative Display Facility"),
    (16, "ISE", "International Securities Exchange"),
    (17, "BOX", "Boston Options Exchange"),
    (18, "BATS", "Cboe BZX"),
    (20, "PBOT", "Philadelphia Board of Trade"),
    (
        listed_market::NASDAQ_GLOBAL_SELECT,
        "NGSM",
        "Nasdaq Global Select Market",
    ),
    (25, "NYSE_AMEX_OPTIONS", "NYSE American Options"),
    (27, "DTN", "DTN"),
    (30, "CBOT", "Chicago Board of Trade"),
    (32, "CFE", "Cboe Futures Exchange"),
    (34, "CME", "Chicago Mercantile Exchange"),
    (36, "NYMEX", "New York Mercantile Exchange"),
    (37, "COMEX", "Commodity Exchange"),
    (38, "ICEFU", "ICE Futures US"),
    (50, "TSE", "Toronto Stock Exchange"),
];

/// `SST` rows: the ids of the reference (§5).
const SECURITY_TYPES: &[(u32, &str, &str)] = &[
    (security_type::EQUITY, "EQUITY", "Equity"),
    (security_type::IEOPTION, "IEOPTION", "Index/Equity Option"),
    (3, "MUTUAL", "Mutual Fund"),
    (4, "MONEY", "Money Market Fund"),
    (5, "BONDS", "Bond"),
    (security_type::INDEX, "INDEX", "Index"),
    (7, "MKTSTATS", "Market Statistic"),
    (8, "FUTURE", "Future"),
    (9, "FOPTION", "Future Option"),
    (10, "SPREAD", "Future Spread"),
    (11, "SPOT", "Spot"),
    (12, "FORWARD", "Forward"),
    (13, "CALC", "Calculated"),
    (14, "STRIP", "Strip"),
    (15, "SSFUTURE", "Single Stock Future"),
    (16, "FOREX", "Foreign Exchange"),
    (17, "MKTDEPTH", "Market Depth"),
    (18, "PRECMTL", "Precious Metal"),
];

/// `STC` rows: the conditions the tape prints, by decimal id (history carries them in hex).
const TRADE_CONDITIONS: &[(u32, &str, &str)] = &[
    (0x01, "REGULAR", "Regular sale"),
    (0x3D, "INTRMRKT_SWEEP", "Intermarket sweep order"),
    (0x87, "ODD_LOT", "Odd lot trade"),
];

/// `SSC` rows: the SIC codes of the standard universe and of derived tickers (9999).
const SIC_CODES: &[(u32, &str)] = &[
    (2080, "BEVERAGES"),
    (2834, "PHARMACEUTICAL PREPARATIONS"),
    (
        2840,
        "SOAP, DETERGENTS, CLEANING PREPARATIONS, PERFUMES, COSMETICS",
    ),
    (2911, "PETROLEUM REFINING"),
    (3571, "ELECTRONIC COMPUTERS"),
    (3674, "SEMICONDUCTORS & RELATED DEVICES"),
    (3711, "MOTOR VEHICLES & PASSENGER CAR BODIES"),
    (5331, "RETAIL-VARIETY STORES"),
    (5961, "RETAIL-CATALOG & MAIL-ORDER HOUSES"),
    (6021, "NATIONAL COMMERCIAL BANKS"),
    (6221, "COMMODITY CONTRACTS BROKERS & DEALERS"),
    (
        6726,
        "UNIT INV TR, FACE-AMOUNT CERT OFFICES & CLOSED-END MGMT INV OFFICES",
    ),
    (7370, "SERVICES-COMPUTER PROGRAMMING, DATA PROCESSING, ETC."),
    (7372, "SERVICES-PREPACKAGED SOFTWARE"),
    (7990, "SERVICES-MISCELLANEOUS AMUSEMENT & RECREATION"),
    (9999, "NONCLASSIFIABLE ESTABLISHMENTS"),
];

/// `SNC` rows: the NAICS industries of the standard universe's companies.
const NAICS_CODES: &[(u32, &str)] = &[
    (312111, "Soft Drink Manufacturing"),
    (324110, "Petroleum Refineries"),
    (325412, "Pharmaceutical Preparation Manufacturing"),
    (325611, "Soap and Other Detergent Manufacturing"),
    (334111, "Electronic Computer Manufacturing"),
    (334413, "Semiconductor and Related Device Manufacturing"),
    (336111, "Automobile Manufacturing"),
    (452311, "Warehouse Clubs and Supercenters"),
    (454110, "Electronic Shopping and Mail-Order Houses"),
    (511210, "Software Publishers"),
    (518210, "Data Processing, Hosting, and Related Services"),
    (522110, "Commercial Banking"),
    (523130, "Commodity Contracts Dealing"),
    (525990, "Other Financial Vehicles"),
    (713990, "All Other Amusement and Recreation Industries"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Universe;

    fn market() -> Market {
        Market::new(1, Universe::standard())
    }

    #[test]
    fn table_commands_parse_with_and_without_ids() {
        assert_eq!(parse("SLM"), Some(Ok((TableRequest::Markets, None))));
        assert_eq!(
            parse("STC,T1"),
            Some(Ok((TableRequest::TradeConditions, Some("T1".into()))))
        );
        assert_eq!(
            parse("SBS,3571,R9"),
            Some(Ok((TableRequest::BySic("3571".into()), Some("R9".into()))))
        );
        assert_eq!(
            parse("SBN,33,"),
            Some(Ok((TableRequest::ByNaics("33".into()), None)))
        );
        assert_eq!(parse("HTX,AAPL,10"), None);
        assert_eq!(parse("SBF,s,AA,,,X"), None);
    }

    #[test]
    fn bad_table_lines_name_their_error_and_keep_the_id() {
        let err = |text, id: Option<&str>| {
            Some(Err(TableError {
                text,
                id: id.map(str::to_owned),
            }))
        };
        assert_eq!(parse("SLM,A,B"), err(BAD_PARAMETERS, Some("A")));
        assert_eq!(parse("SBS,,Q1"), err(SYNTAX_ERROR, Some("Q1")));
        assert_eq!(parse("SBS,35x,Q2"), err(SYNTAX_ERROR, Some("Q2")));
        assert_eq!(parse("SBN"), err(SYNTAX_ERROR, None));
    }

    #[test]
    fn every_id_the_universe_uses_is_in_its_table() {
        let m = market();
        let markets = rows(&m, &TableRequest::Markets);
        let types = rows(&m, &TableRequest::SecurityTypes);
        let sics = rows(&m, &TableRequest::SicCodes);
        for i in m.universe().instruments() {
            let has = |table: &[String], id: u32| {
                table
                    .iter()
                    .any(|r| r.split(',').next() == Some(&id.to_string()))
            };
            assert!(has(&markets, i.listed_market), "{} market", i.symbol);
            assert!(has(&markets, i.exchange_id()), "{} exchange", i.symbol);
            assert!(has(&types, i.security_type()), "{} type", i.symbol);
            assert!(
                i.sic == 0 || has(&sics, i.sic),
                "{} sic {}",
                i.symbol,
                i.sic
            );
        }
        assert!(markets.contains(&"2,NCM,National Capital Market,5,NASDAQ,".to_owned()));
        assert!(markets.contains(&"7,NYSE,New York Stock Exchange,7,NYSE,".to_owned()));
    }

    #[test]
    fn sic_search_matches_code_prefixes() {
        let m = market();
        let found = rows(&m, &TableRequest::BySic("3571".into()));
        assert_eq!(found, ["3571,AAPL,21,1,APPLE INC,"]);
        let semis = rows(&m, &TableRequest::BySic("367".into()));
        assert_eq!(semis.len(), 2, "{semis:?}");
        assert!(semis[0].starts_with("3674,INTC,") && semis[1].starts_with("3674,NVDA,"));
        assert!(rows(&m, &TableRequest::BySic("1".into())).is_empty());
        assert!(rows(&m, &TableRequest::ByNaics("3".into())).is_empty());
    }
}
